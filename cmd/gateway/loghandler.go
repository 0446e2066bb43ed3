package main

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// lineHandler writes the gateway's log lines in the text or JSON form of log/slog's own handlers, byte for byte,
// at a fraction of their cost: slog's TextHandler was 6.5% of the gateway's CPU under load, one access-log line
// per request (a deferred recover around every value, a handle state per record, the time formatted from
// scratch each time). A record it can write itself is one whose attributes are all strings, integers, booleans,
// durations, floats or times, with ASCII text, and no groups; the timestamp's date and clock are formatted once
// per second. Anything else (groups, WithAttrs, errors and other values formatted by reflection, non-ASCII text,
// NaN and infinities in JSON, years outside 0-9999) goes to slog's handler, which writes to the same place. TestLineHandlerMatchesSlog and FuzzLineHandler
// hold it to slog's output.
type lineHandler struct {
	slow  slog.Handler
	w     *bufferedLog
	json  bool
	level slog.Leveler
	clock atomic.Pointer[secondStamp]
}

func newLineHandler(w *bufferedLog, opts *slog.HandlerOptions, json bool) *lineHandler {
	h := &lineHandler{w: w, json: json, level: opts.Level}
	if h.level == nil {
		h.level = slog.LevelInfo
	}
	if json {
		h.slow = slog.NewJSONHandler(w, opts)
	} else {
		h.slow = slog.NewTextHandler(w, opts)
	}
	return h
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler { return h.slow.WithAttrs(attrs) }

func (h *lineHandler) WithGroup(name string) slog.Handler { return h.slow.WithGroup(name) }

var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *lineHandler) Handle(ctx context.Context, r slog.Record) error {
	bp := lineBuffers.Get().(*[]byte)
	line, ok := h.appendRecord((*bp)[:0], r)
	var err error
	if ok {
		_, err = h.w.Write(line)
	} else {
		err = h.slow.Handle(ctx, r)
	}
	if cap(line) <= 16<<10 {
		*bp = line[:0]
		lineBuffers.Put(bp)
	}
	return err
}

// appendRecord appends r's line; ok is false when r needs slog's handler.
func (h *lineHandler) appendRecord(b []byte, r slog.Record) (_ []byte, ok bool) {
	sep := false
	if h.json {
		b = append(b, '{')
	}
	if !r.Time.IsZero() {
		b = h.key(b, slog.TimeKey, &sep)
		if b, ok = h.appendTime(b, r.Time.Round(0)); !ok {
			return b, false
		}
	}
	b = h.key(b, slog.LevelKey, &sep)
	if b, ok = h.str(b, r.Level.String()); !ok {
		return b, false
	}
	b = h.key(b, slog.MessageKey, &sep)
	if b, ok = h.str(b, r.Message); !ok {
		return b, false
	}
	ok = true
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" {
			ok = false // an empty key: slog drops an empty attribute and writes the others
			return false
		}
		if b, ok = h.str(h.keyPrefix(b, &sep), a.Key); !ok {
			return false
		}
		b = h.keyEnd(b)
		b, ok = h.value(b, a.Value)
		return ok
	})
	if !ok {
		return b, false
	}
	if h.json {
		b = append(b, '}')
	}
	return append(b, '\n'), true
}

// key appends a key known to need no quoting or escaping.
func (h *lineHandler) key(b []byte, k string, sep *bool) []byte {
	b = h.keyPrefix(b, sep)
	if h.json {
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"')
	} else {
		b = append(b, k...)
	}
	return h.keyEnd(b)
}

func (h *lineHandler) keyPrefix(b []byte, sep *bool) []byte {
	if *sep {
		if h.json {
			return append(b, ',')
		}
		return append(b, ' ')
	}
	*sep = true
	return b
}

func (h *lineHandler) keyEnd(b []byte) []byte {
	if h.json {
		return append(b, ':')
	}
	return append(b, '=')
}

func (h *lineHandler) value(b []byte, v slog.Value) ([]byte, bool) {
	switch v.Kind() {
	case slog.KindString:
		return h.str(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10), true
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10), true
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool()), true
	case slog.KindDuration:
		if h.json {
			return strconv.AppendInt(b, int64(v.Duration()), 10), true
		}
		return append(b, v.Duration().String()...), true
	case slog.KindFloat64:
		f := v.Float64()
		if !h.json {
			return strconv.AppendFloat(b, f, 'g', -1, 64), true
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		return appendJSONFloat(b, f), true
	case slog.KindTime:
		return h.appendTime(b, v.Time())
	}
	return b, false
}

// appendJSONFloat writes f as encoding/json does: positional notation, exponent notation below 1e-6 and from
// 1e21 on, with a one-digit negative exponent not padded.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// str appends s as a value or key: in text as it is, or quoted (strconv.Quote) when it is empty or holds a
// space, '=', '"' or a control character; in JSON quoted, with '"', '\\' and control characters escaped. Text
// with a byte outside ASCII goes to slog's handler, whose rules for it are Unicode's.
func (h *lineHandler) str(b []byte, s string) ([]byte, bool) {
	var class uint8
	for i := 0; i < len(s); i++ {
		class |= byteClass[s[i]]
	}
	switch {
	case class&nonASCII != 0:
		return b, false
	case h.json && class&jsonEscape == 0:
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"'), true
	case h.json:
		return appendJSONEscaped(b, s), true
	case class&textQuote == 0 && len(s) > 0:
		return append(b, s...), true
	}
	return strconv.AppendQuote(b, s), true
}

// What a byte asks of a string that holds it.
const (
	textQuote  = 1 << iota // text: quote the string (space, '=', '"', control characters)
	jsonEscape             // JSON: escape the byte ('"', '\\', control characters)
	nonASCII
)

var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 0x80:
			t[c] = nonASCII
		case c < 0x20 || c == '"':
			t[c] = textQuote | jsonEscape
		case c == '\\':
			t[c] = jsonEscape
		case c == ' ' || c == '=':
			t[c] = textQuote
		}
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONEscaped appends the ASCII string s quoted for JSON.
func appendJSONEscaped(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// secondStamp is one second's "2006-01-02T15:04:05" and zone ("Z", "+09:00") in one location.
type secondStamp struct {
	unix  int64
	loc   *time.Location
	clock [19]byte
	zone  string
}

// appendTime writes t as slog does: in text RFC 3339 with exactly three digits of milliseconds, in JSON
// RFC 3339 with nanoseconds, trailing zeros dropped, quoted.
func (h *lineHandler) appendTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, false
	}
	if !h.json {
		t = t.Truncate(time.Millisecond) // as slog: the instant is truncated, then shown in its zone
	}
	st := h.clock.Load()
	if st == nil || st.unix != t.Unix() || st.loc != t.Location() {
		st = &secondStamp{unix: t.Unix(), loc: t.Location()}
		full := t.Truncate(time.Second).AppendFormat(make([]byte, 0, 32), time.RFC3339)
		if len(full) < len(st.clock) {
			return b, false
		}
		copy(st.clock[:], full)
		st.zone = string(full[len(st.clock):])
		h.clock.Store(st)
	}
	if h.json {
		b = append(b, '"')
	}
	b = append(b, st.clock[:]...)
	ns := t.Nanosecond()
	if h.json {
		if ns != 0 {
			var frac [10]byte
			frac[0] = '.'
			for i, v := 9, ns; i >= 1; i-- {
				frac[i] = byte('0' + v%10)
				v /= 10
			}
			n := 10
			for frac[n-1] == '0' {
				n--
			}
			b = append(b, frac[:n]...)
		}
	} else {
		ms := ns / int(time.Millisecond)
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	}
	b = append(b, st.zone...)
	if h.json {
		b = append(b, '"')
	}
	return b, true
}
