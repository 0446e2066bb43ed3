//go:build !wasip1

package sdk

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hashicorp/go-plugin"

	pb "github.com/switchyard/gateway/sdk/internal/pluginpb"
)

// Handshake is the go-plugin handshake of Switchyard plugins. A plugin binary started by hand (not by the gateway)
// prints a message saying so and exits, and a plugin built against another ProtocolVersion is refused at start.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SWITCHYARD_PLUGIN",
	MagicCookieValue: "7b1f6c1e-switchyard-gateway-plugin",
}

func targetToPB(t *Target) *pb.Target {
	if t == nil {
		return nil
	}
	out := &pb.Target{Id: t.ID, Provider: t.Provider, Model: t.Model, ApiBase: t.APIBase, ApiKey: t.APIKey,
		ApiVersion: t.APIVersion, Organization: t.Organization, Headers: t.Headers, DropParams: t.DropParams,
		AdditionalDropParams: t.AdditionalDropParams}
	if len(t.Params) > 0 {
		out.ParamsJson, _ = json.Marshal(t.Params)
	}
	return out
}

func targetFromPB(p *pb.Target) (*Target, error) {
	if p == nil {
		return &Target{}, nil
	}
	t := &Target{ID: p.Id, Provider: p.Provider, Model: p.Model, APIBase: p.ApiBase, APIKey: p.ApiKey,
		APIVersion: p.ApiVersion, Organization: p.Organization, Headers: p.Headers, DropParams: p.DropParams,
		AdditionalDropParams: p.AdditionalDropParams}
	if len(p.ParamsJson) > 0 {
		if err := json.Unmarshal(p.ParamsJson, &t.Params); err != nil {
			return nil, NewError(KindInternal, "plugin protocol: bad target params: "+err.Error())
		}
	}
	return t, nil
}

func errorToPB(err error) *pb.Error {
	if err == nil {
		return nil
	}
	e := AsError(err)
	return &pb.Error{Kind: uint32(e.Kind), Status: int32(e.Status), Message: e.Message, Param: e.Param, Code: e.Code,
		Provider: e.Provider, RetryAfterMs: e.RetryAfter.Milliseconds(), Header: e.Header}
}

func errorFromPB(p *pb.Error) *Error {
	if p == nil {
		return nil
	}
	kind := ErrorKind(p.Kind)
	if int(kind) >= len(kindInfo) {
		kind = KindInternal
	}
	return &Error{Kind: kind, Status: int(p.Status), Message: p.Message, Param: p.Param, Code: p.Code,
		Provider: p.Provider, RetryAfter: time.Duration(p.RetryAfterMs) * time.Millisecond, Header: p.Header}
}

func headerToPB(h http.Header) []*pb.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*pb.Header, 0, len(h))
	for k, v := range h {
		out = append(out, &pb.Header{Name: k, Values: v})
	}
	return out
}

func headerFromPB(hs []*pb.Header) http.Header {
	h := make(http.Header, len(hs))
	for _, x := range hs {
		h[x.Name] = x.Values
	}
	return h
}

func httpRequestToPB(r *HTTPRequest) *pb.HTTPRequest {
	if r == nil {
		return nil
	}
	return &pb.HTTPRequest{Method: r.Method, Url: r.URL, Header: headerToPB(r.Header), Body: r.Body}
}

func httpRequestFromPB(p *pb.HTTPRequest) *HTTPRequest {
	if p == nil {
		return nil
	}
	return &HTTPRequest{Method: p.Method, URL: p.Url, Header: headerFromPB(p.Header), Body: p.Body}
}

func httpResponseToPB(r *HTTPResponse) *pb.HTTPResponse {
	return &pb.HTTPResponse{Status: int32(r.Status), Header: headerToPB(r.Header), Body: r.Body}
}

func httpResponseFromPB(p *pb.HTTPResponse) *HTTPResponse {
	if p == nil {
		return &HTTPResponse{}
	}
	return &HTTPResponse{Status: int(p.Status), Header: headerFromPB(p.Header), Body: p.Body}
}

// answerToPB encodes an answer: its Raw when set (the exact wire JSON), else its JSON encoding; usage apart.
func answerToPB(v any, raw json.RawMessage, usage *Usage) (*pb.Answer, error) {
	a := &pb.Answer{Json: raw}
	if raw == nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		a.Json = b
	}
	if usage != nil {
		a.UsageJson, _ = json.Marshal(usage)
	}
	return a, nil
}

func usageFromPB(a *pb.Answer) (*Usage, error) {
	if a == nil || len(a.UsageJson) == 0 {
		return nil, nil
	}
	u := new(Usage)
	if err := json.Unmarshal(a.UsageJson, u); err != nil {
		return nil, err
	}
	return u, nil
}

// chatRequestJSON encodes a request for the wire: the typed fields and Extra, so that changes the gateway made
// to the typed fields (inlined images, say) reach the plugin.
func requestJSON(v any) ([]byte, error) { return json.Marshal(v) }
