package sdk

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// jsonNames returns the JSON member names of a struct type, including those of embedded structs.
func jsonNames(v any) map[string]struct{} {
	names := map[string]struct{}{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			names[name] = struct{}{}
		}
	}
	walk(reflect.TypeOf(v))
	return names
}

// collectExtra returns the top-level members of obj whose names are not in known, or nil when there are none.
// The values alias obj.
func collectExtra(obj []byte, known map[string]struct{}) map[string]json.RawMessage {
	var extra map[string]json.RawMessage
	_ = rawjson.Each(obj, func(k, v []byte) bool {
		if _, ok := known[string(k)]; ok {
			return true
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage, 4)
		}
		extra[string(k)] = v
		return true
	})
	return extra
}

// marshalWithExtra encodes v (a struct) and appends the members of extra, in name order.
func marshalWithExtra(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	set := make([]rawjson.Member, len(keys))
	for i, k := range keys {
		set[i] = rawjson.Member{Key: []byte(k), Value: extra[k]}
	}
	return rawjson.Patch(b, set, nil)
}

// jsonKind names the kind of a raw JSON value for type errors.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

var (
	stopType    = reflect.TypeOf(Stop{})
	contentType = reflect.TypeOf(Content{})
	inputType   = reflect.TypeOf(Input{})
)
