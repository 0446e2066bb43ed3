package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxSchemaDepth bounds the nesting of a schema, $refs included; maxSchemaNodes the schemas visited, which
// $refs used many times could otherwise multiply without end.
const (
	maxSchemaDepth = 64
	maxSchemaNodes = 10000
)

// CleanSchema turns a JSON Schema (as OpenAI clients write function parameters and response schemas) into the
// OpenAPI subset Gemini's Schema takes, which refuses every member it does not know:
//
//   - local $refs (#/$defs/..., #/definitions/...) are inlined; a recursive $ref is an error, as Gemini schemas
//     cannot recurse;
//   - "null" in a type list or an anyOf/oneOf becomes nullable; a single remaining alternative is inlined;
//     oneOf becomes anyOf; allOf is merged;
//   - types are upper-cased (OBJECT, STRING, ...), const becomes a one-value enum and enum values strings;
//   - formats Gemini refuses (string formats other than enum and date-time) are dropped, and an enum of a
//     non-string type gets format "enum";
//   - members outside Gemini's Schema ($schema, $id, additionalProperties, strict, exclusiveMinimum, ...) are
//     dropped; empty properties are dropped, properties and required are dropped from non-object types, and
//     required names are kept only when declared.
//
// This is what LiteLLM does for Gemini, made total: a whitelist rather than a list of known offenders.
func CleanSchema(schema json.RawMessage) (json.RawMessage, error) {
	s, err := cleanSchema(schema)
	if err != nil {
		return nil, err
	}
	return marshal(s)
}

func cleanSchema(schema json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("must be a JSON object")
	}
	c := schemaCleaner{defs: map[string]any{}}
	for _, key := range []string{"definitions", "$defs"} {
		if d, ok := obj[key].(map[string]any); ok {
			for name, v := range d {
				c.defs["#/"+key+"/"+name] = v
			}
		}
	}
	return c.clean(obj, 0, nil)
}

type schemaCleaner struct {
	defs  map[string]any
	nodes int
}

// kept are the members of Gemini's Schema copied as they are.
var kept = []string{"description", "title", "nullable", "maxItems", "minItems", "minLength", "maxLength",
	"minProperties", "maxProperties", "minimum", "maximum", "pattern", "example", "default", "propertyOrdering"}

// formats are the formats Gemini accepts, by type.
var formats = map[string]map[string]bool{
	"STRING":  {"enum": true, "date-time": true},
	"INTEGER": {"int32": true, "int64": true, "enum": true},
	"NUMBER":  {"float": true, "double": true, "enum": true},
}

func (c *schemaCleaner) clean(v any, depth int, refs []string) (map[string]any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxSchemaDepth)
	}
	if c.nodes++; c.nodes > maxSchemaNodes {
		return nil, fmt.Errorf("more than %d schemas once its $refs are resolved", maxSchemaNodes)
	}
	node, ok := v.(map[string]any)
	if !ok {
		if b, isBool := v.(bool); isBool && b {
			return map[string]any{}, nil // `true` accepts anything
		}
		return nil, errors.New("every schema must be a JSON object")
	}
	if ref, ok := node["$ref"].(string); ok {
		for _, r := range refs {
			if r == ref {
				return nil, fmt.Errorf("recursive $ref %q: gemini schemas cannot recurse", ref)
			}
		}
		target, ok := c.defs[ref]
		if !ok {
			return nil, fmt.Errorf("$ref %q: only local #/$defs/... and #/definitions/... references are supported", ref)
		}
		tobj, ok := target.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: not a schema object", ref)
		}
		merged := make(map[string]any, len(tobj)+len(node))
		for k, val := range tobj {
			merged[k] = val
		}
		for k, val := range node { // siblings of $ref (a description, say) refine the target
			if k != "$ref" {
				merged[k] = val
			}
		}
		return c.clean(merged, depth+1, append(refs, ref))
	}
	if all, ok := node["allOf"].([]any); ok {
		merged := make(map[string]any, len(node))
		for k, val := range node {
			if k != "allOf" {
				merged[k] = val
			}
		}
		for _, sub := range all {
			s, err := c.clean(sub, depth+1, refs)
			if err != nil {
				return nil, err
			}
			mergeSchema(merged, s)
		}
		node = merged
	}

	out := map[string]any{}
	for _, k := range kept {
		if val, ok := node[k]; ok && val != nil {
			out[k] = val
		}
	}
	nullable := false

	switch t := node["type"].(type) {
	case string:
		if strings.EqualFold(t, "null") {
			nullable = true
		} else {
			out["type"] = strings.ToUpper(t)
		}
	case []any:
		var types []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				if strings.EqualFold(s, "null") {
					nullable = true
				} else {
					types = append(types, strings.ToUpper(s))
				}
			}
		}
		switch len(types) {
		case 0:
		case 1:
			out["type"] = types[0]
		default:
			alts := make([]any, len(types))
			for i, s := range types {
				alts[i] = map[string]any{"type": s}
			}
			out["anyOf"] = alts
		}
	}

	for _, key := range []string{"anyOf", "oneOf"} {
		alts, ok := node[key].([]any)
		if !ok {
			continue
		}
		var cleaned []any
		for _, a := range alts {
			if m, ok := a.(map[string]any); ok && len(m) == 1 {
				if s, _ := m["type"].(string); strings.EqualFold(s, "null") {
					nullable = true
					continue
				}
			}
			s, err := c.clean(a, depth+1, refs)
			if err != nil {
				return nil, err
			}
			cleaned = append(cleaned, s)
		}
		if len(cleaned) == 1 {
			single := cleaned[0].(map[string]any)
			for k, val := range single {
				if _, set := out[k]; !set {
					out[k] = val
				}
			}
		} else if len(cleaned) > 1 {
			out["anyOf"] = cleaned
		}
	}

	if cv, ok := node["const"]; ok && cv != nil {
		out["enum"] = []any{scalarString(cv)}
	}
	if en, ok := node["enum"].([]any); ok {
		vals := make([]any, 0, len(en))
		for _, e := range en {
			if e == nil {
				nullable = true
				continue
			}
			vals = append(vals, scalarString(e))
		}
		out["enum"] = vals
	}
	if _, ok := out["enum"]; ok {
		if _, typed := out["type"]; !typed {
			out["type"] = "STRING"
		}
	}

	if props, ok := node["properties"].(map[string]any); ok {
		cleaned := make(map[string]any, len(props))
		for name, p := range props {
			s, err := c.clean(p, depth+1, refs)
			if err != nil {
				return nil, fmt.Errorf("properties.%s: %w", name, err)
			}
			cleaned[name] = s
		}
		if len(cleaned) > 0 {
			out["properties"] = cleaned
		}
		if _, typed := out["type"]; !typed {
			out["type"] = "OBJECT"
		}
		if req, ok := node["required"].([]any); ok {
			var names []any
			for _, r := range req {
				if s, ok := r.(string); ok {
					if _, declared := cleaned[s]; declared {
						names = append(names, s)
					}
				}
			}
			if len(names) > 0 {
				out["required"] = names
			}
		}
	}
	if items, ok := node["items"]; ok && items != nil {
		if tuple, ok := items.([]any); ok { // draft-4 tuple items: Gemini has one item schema
			if len(tuple) > 0 {
				items = tuple[0]
			} else {
				items = nil
			}
		}
		if items != nil {
			s, err := c.clean(items, depth+1, refs)
			if err != nil {
				return nil, fmt.Errorf("items: %w", err)
			}
			out["items"] = s
		}
	}

	ty, _ := out["type"].(string)
	if f, ok := node["format"].(string); ok && formats[ty][f] {
		out["format"] = f
	}
	if _, ok := out["enum"]; ok && ty != "STRING" {
		out["format"] = "enum" // Gemini's form of an enum of numbers: {type: INTEGER, format: enum, enum: ["1", "2"]}
	}
	if ty != "" && ty != "OBJECT" { // "properties: only allowed for OBJECT type"
		delete(out, "properties")
		delete(out, "required")
	}
	if nullable {
		out["nullable"] = true
	}
	return out, nil
}

// mergeSchema merges an allOf member into dst: properties and required names are united, other members are
// kept from dst when it has them.
func mergeSchema(dst, src map[string]any) {
	for k, v := range src {
		switch k {
		case "properties":
			props, _ := dst["properties"].(map[string]any)
			merged := make(map[string]any, len(props))
			for name, p := range props {
				merged[name] = p
			}
			for name, p := range v.(map[string]any) {
				if _, ok := merged[name]; !ok {
					merged[name] = p
				}
			}
			dst["properties"] = merged
		case "required":
			seen := map[string]bool{}
			var names []any
			existing, _ := dst["required"].([]any)
			add, _ := v.([]any)
			for _, n := range append(append([]any{}, existing...), add...) {
				if s, ok := n.(string); ok && !seen[s] {
					seen[s] = true
					names = append(names, s)
				}
			}
			dst["required"] = names
		default:
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
		}
	}
}

// scalarString returns an enum value as the string Gemini's enums take.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
