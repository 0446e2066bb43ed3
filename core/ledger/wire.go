package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/switchyard/gateway/core/store"
)

// wireRecord is the JSON form of a store.SpendLog in the outbox. Its field
// names are part of the on-disk format and must not change; it is decoupled
// from store.SpendLog so that renaming a Go field there cannot silently lose
// data written by an earlier version.
type wireRecord struct {
	RequestID        string         `json:"request_id"`
	APIKey           string         `json:"api_key,omitempty"`
	KeyAlias         string         `json:"key_alias,omitempty"`
	TeamID           string         `json:"team_id,omitempty"`
	UserID           string         `json:"user_id,omitempty"`
	EndUser          string         `json:"end_user,omitempty"`
	ModelGroup       string         `json:"model_group,omitempty"`
	Model            string         `json:"model,omitempty"`
	DeploymentID     string         `json:"deployment_id,omitempty"`
	Provider         string         `json:"provider,omitempty"`
	CallType         string         `json:"call_type,omitempty"`
	PromptTokens     int64          `json:"prompt_tokens,omitempty"`
	CompletionTokens int64          `json:"completion_tokens,omitempty"`
	TotalTokens      int64          `json:"total_tokens,omitempty"`
	CachedTokens     int64          `json:"cached_tokens,omitempty"`
	Spend            float64        `json:"spend,omitempty"`
	StartTime        time.Time      `json:"start_time,omitzero"`
	EndTime          time.Time      `json:"end_time,omitzero"`
	LatencyMS        int64          `json:"latency_ms,omitempty"`
	Status           string         `json:"status,omitempty"`
	CacheHit         bool           `json:"cache_hit,omitempty"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	RequestTags      []string       `json:"request_tags,omitempty"`
}

func toWire(r *store.SpendLog) wireRecord {
	return wireRecord{
		RequestID: r.RequestID, APIKey: r.APIKey, KeyAlias: r.KeyAlias, TeamID: r.TeamID, UserID: r.UserID,
		EndUser: r.EndUser, ModelGroup: r.ModelGroup, Model: r.Model, DeploymentID: r.DeploymentID,
		Provider: r.Provider, CallType: r.CallType, PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, TotalTokens: r.TotalTokens, CachedTokens: r.CachedTokens,
		Spend: r.Spend, StartTime: r.StartTime, EndTime: r.EndTime, LatencyMS: r.LatencyMS, Status: r.Status,
		CacheHit: r.CacheHit, Metadata: r.Metadata, RequestTags: r.RequestTags,
	}
}

func (w *wireRecord) spendLog() store.SpendLog {
	return store.SpendLog{
		RequestID: w.RequestID, APIKey: w.APIKey, KeyAlias: w.KeyAlias, TeamID: w.TeamID, UserID: w.UserID,
		EndUser: w.EndUser, ModelGroup: w.ModelGroup, Model: w.Model, DeploymentID: w.DeploymentID,
		Provider: w.Provider, CallType: w.CallType, PromptTokens: w.PromptTokens,
		CompletionTokens: w.CompletionTokens, TotalTokens: w.TotalTokens, CachedTokens: w.CachedTokens,
		Spend: w.Spend, StartTime: w.StartTime, EndTime: w.EndTime, LatencyMS: w.LatencyMS, Status: w.Status,
		CacheHit: w.CacheHit, Metadata: w.Metadata, RequestTags: w.RequestTags,
	}
}

// castagnoli is the CRC-32 table of frames and the checkpoint.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	frameHeaderLen = 8
	maxPayload     = 16 << 20
)

// encodeFrame returns the complete frame (header and JSON payload) of r. It
// snapshots r, so the caller may reuse r's maps and slices afterwards.
func encodeFrame(r *store.SpendLog) ([]byte, error) {
	payload, err := json.Marshal(toWire(r))
	if err != nil {
		return nil, fmt.Errorf("encode spend record: %w", err)
	}
	replaceNUL(payload)
	if len(payload) > maxPayload {
		return nil, fmt.Errorf("encode spend record: %d bytes exceed the limit of %d", len(payload), maxPayload)
	}
	frame := make([]byte, frameHeaderLen+len(payload))
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	copy(frame[frameHeaderLen:], payload)
	return frame, nil
}

// decodePayload turns a frame payload back into a record. Numbers inside
// Metadata decode as json.Number, so they are written back exactly.
func decodePayload(p []byte) (store.SpendLog, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var w wireRecord
	if err := dec.Decode(&w); err != nil {
		return store.SpendLog{}, fmt.Errorf("decode spend record: %w", err)
	}
	return w.spendLog(), nil
}

// replaceNUL rewrites, in place, every escaped NUL character (\u0000) of a
// JSON document produced by encoding/json into U+FFFD (\ufffd, same length).
// PostgreSQL stores neither NUL in text nor \u0000 in jsonb, and a record it
// rejects would be retried forever, holding back every record after it; a
// NUL can come from client input (the "user" field, metadata). In such a
// document every backslash starts an escape, so the scan needs no parser.
func replaceNUL(doc []byte) {
	for i := 0; i < len(doc)-1; i++ {
		if doc[i] != '\\' {
			continue
		}
		if doc[i+1] == 'u' && i+5 < len(doc) && string(doc[i+2:i+6]) == "0000" {
			copy(doc[i+2:i+6], "fffd")
		}
		i++ // skip the escaped character, which may itself be a backslash
	}
}
