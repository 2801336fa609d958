package adminapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// buildOpenAPI generates the OpenAPI 3.1 document from the route table;
// the JSON schemas of the wire types come from their Go types by
// reflection, following encoding/json's rules, so the document cannot
// drift from what the server sends.
func buildOpenAPI(routes []route) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	errRef := g.schema(reflect.TypeFor[ErrorResponse]())
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.summary,
		}
		if rt.auth {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
		} else {
			op["security"] = []any{}
		}
		if rt.query != nil {
			var params []any
			for _, p := range queryParams(rt.query) {
				params = append(params, map[string]any{
					"name":        p.name,
					"in":          "query",
					"required":    false,
					"description": p.doc,
					"schema":      g.schema(p.t),
				})
			}
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{
				"required":    true,
				"description": rt.body.doc + " (at most " + formatBytes(rt.body.max) + ")",
				"content": map[string]any{
					"application/json": map[string]any{"schema": g.schema(rt.body.t)},
				},
			}
		}
		ok := map[string]any{"description": "OK"}
		switch {
		case rt.resp != nil:
			content := map[string]any{"application/json": map[string]any{"schema": g.schema(rt.resp)}}
			if rt.sse != nil {
				content["text/event-stream"] = map[string]any{"schema": map[string]any{
					"type": "string", "description": "one event per message: id is seq, event is kind, data is the Event as JSON"}}
			}
			ok["content"] = content
		case rt.respType != "":
			ok["content"] = map[string]any{rt.respType: map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		op["responses"] = map[string]any{
			"200": ok,
			"default": map[string]any{
				"description": "error, in the one error shape",
				"content":     map[string]any{"application/json": map[string]any{"schema": errRef}},
			},
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "ctimesh admin API",
			"version":     "v1",
			"description": "Local admin API of a ctimesh node. Loopback only; every route but /healthz needs the bearer token from admin.token in the node's data directory. JSON field names are stable: fields are added, never renamed.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operationID is "get" + "ApiV1Status" style, unique per method and path.
func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	up := true
	for _, c := range rt.path {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			if up && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteRune(c)
			up = false
			continue
		}
		up = true
	}
	return b.String()
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// schemaGen turns Go types into JSON Schema (2020-12, as OpenAPI 3.1 uses).
// Named structs go to components/schemas and are referenced.
type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{"description": "any JSON value, passed through as is"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = map[string]any{} // placeholder: breaks cycles
			g.defs[t.Name()] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + t.Name()}
	}
	return map[string]any{}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	g.addFields(t, props, &required)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// addFields follows encoding/json: exported fields, json tag names,
// omitempty/omitzero fields optional, untagged embedded structs flattened.
func (g *schemaGen) addFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.addFields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
