package wasmguest

import (
	"encoding/binary"
	"errors"

	"github.com/switchyard/gateway/sdk"
)

// Stream events and chunks cross the ABI in a binary framing rather than JSON: a Go guest's encoding/json costs
// about 100 µs per call, which per stream event would dominate. Integers are little-endian uint32.
//
//	OpStreamEvents input:  end u8, count u32, count × (type length u32, type, data length u32, data)
//	OpStreamEvents output: 'B', done u8, count u32, count × (json length u32, json, usage length u32, usage JSON)
//	                       or a JSON envelope {"error": ...} (first byte '{')

// ErrFrame reports a malformed frame.
var ErrFrame = errors.New("wasmguest: malformed frame")

// AppendEvents encodes stream events.
func AppendEvents(b []byte, evs []sdk.StreamEvent, end bool) []byte {
	if end {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(evs)))
	for _, ev := range evs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ev.Type)))
		b = append(b, ev.Type...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ev.Data)))
		b = append(b, ev.Data...)
	}
	return b
}

// DecodeEvents decodes stream events; the events' data alias b.
func DecodeEvents(b []byte, evs []sdk.StreamEvent) ([]sdk.StreamEvent, bool, error) {
	if len(b) < 5 {
		return evs, false, ErrFrame
	}
	end := b[0] == 1
	n := binary.LittleEndian.Uint32(b[1:])
	b = b[5:]
	for i := uint32(0); i < n; i++ {
		var typ, data []byte
		var ok bool
		if typ, b, ok = field(b); !ok {
			return evs, false, ErrFrame
		}
		if data, b, ok = field(b); !ok {
			return evs, false, ErrFrame
		}
		evs = append(evs, sdk.StreamEvent{Type: string(typ), Data: data})
	}
	return evs, end, nil
}

func field(b []byte) (f, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n:n], b[n:], true
}

// AppendChunks encodes a batch's chunks (their JSON and usage JSON) after the 'B' marker.
func AppendChunks(b []byte, chunks []Answer, done bool) []byte {
	b = append(b, 'B')
	if done {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(chunks)))
	for _, c := range chunks {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(c.JSON)))
		b = append(b, c.JSON...)
		var u []byte
		if c.Usage != nil {
			u = c.usageJSON
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(u)))
		b = append(b, u...)
	}
	return b
}

// DecodeChunks decodes what AppendChunks wrote (after checking the 'B' marker): the chunks' JSON and usage JSON,
// aliasing b.
func DecodeChunks(b []byte) (jsons, usages [][]byte, done bool, err error) {
	if len(b) < 6 || b[0] != 'B' {
		return nil, nil, false, ErrFrame
	}
	done = b[1] == 1
	n := binary.LittleEndian.Uint32(b[2:])
	b = b[6:]
	for i := uint32(0); i < n; i++ {
		var j, u []byte
		var ok bool
		if j, b, ok = field(b); !ok {
			return nil, nil, false, ErrFrame
		}
		if u, b, ok = field(b); !ok {
			return nil, nil, false, ErrFrame
		}
		jsons, usages = append(jsons, j), append(usages, u)
	}
	return jsons, usages, done, nil
}
