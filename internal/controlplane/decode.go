package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// decode reads a JSON object body into v. An empty body counts as {}.
// Member names are matched exactly, as the REST models spell them (spec
// 1.1); any other member, including a differently cased spelling of a
// known one, is ignored like every unknown member, since AWS clients add
// members over time. (encoding/json alone would match names regardless of
// case, and let "channelName" override "ChannelName".)
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return kvsapi.Errorf(kvsapi.CodeSerialization, "The request body must be a JSON object")
	}
	exact, err := exactMembers(body, reflect.TypeOf(v))
	if err == nil {
		err = json.Unmarshal(exact, v)
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return typeError(typeErr)
	}
	return kvsapi.Errorf(kvsapi.CodeSerialization, "The request body is not valid JSON: %v", err)
}

// exactMembers returns raw, a JSON value to be decoded into a t, without
// the object members whose names t does not declare byte for byte, at any
// depth. A value whose shape does not fit t is left as it is, for
// json.Unmarshal to report with its path; only a syntax error is returned.
func exactMembers(raw json.RawMessage, t reflect.Type) (json.RawMessage, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return raw, nil // it reads its own JSON
	}
	switch t.Kind() {
	case reflect.Struct:
		return filterObject(raw, memberTypes(t))
	case reflect.Slice, reflect.Array:
		return filterArray(raw, t.Elem())
	}
	return raw, nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// filterObject keeps the members that are keys of members, each filtered
// for its own type.
func filterObject(raw json.RawMessage, members map[string]reflect.Type) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return raw, syntaxOnly(err)
	}
	for name, val := range obj {
		t, ok := members[name]
		if !ok {
			delete(obj, name)
			continue
		}
		var err error
		if obj[name], err = exactMembers(val, t); err != nil {
			return nil, err
		}
	}
	return json.Marshal(obj)
}

// filterArray filters every element of a JSON array for the element type.
func filterArray(raw json.RawMessage, elem reflect.Type) (json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return raw, syntaxOnly(err)
	}
	for i, item := range items {
		var err error
		if items[i], err = exactMembers(item, elem); err != nil {
			return nil, err
		}
	}
	return json.Marshal(items)
}

// syntaxOnly drops a type mismatch, which the final decoding reports with
// the member's path, and keeps anything else (malformed JSON).
func syntaxOnly(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return nil
	}
	return err
}

// memberCache maps a struct type to its JSON member names and their types.
var memberCache sync.Map // reflect.Type -> map[string]reflect.Type

// memberTypes returns the JSON member names of a struct type, as
// encoding/json derives them, with the type each one decodes into.
func memberTypes(t reflect.Type) map[string]reflect.Type {
	if m, ok := memberCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		addMember(m, t.Field(i))
	}
	memberCache.Store(t, m)
	return m
}

// addMember adds one struct field's member name, or the members of an
// untagged embedded struct, which encoding/json promotes.
func addMember(m map[string]reflect.Type, f reflect.StructField) {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch {
	case name == "-":
		return
	case f.Anonymous && name == "" && indirect(f.Type).Kind() == reflect.Struct:
		for k, v := range memberTypes(indirect(f.Type)) {
			m[k] = v
		}
		return
	case !f.IsExported():
		return
	case name == "":
		name = f.Name
	}
	m[name] = f.Type
}

func indirect(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// typeError says which JSON type a member needs. Integers get their own
// wording: the wire allows only plain integers (spec 1.2), and "number"
// would read as if 60.0 were fine.
func typeError(e *json.UnmarshalTypeError) error {
	want := jsonKind(indirect(e.Type))
	literal, isNumber := strings.CutPrefix(e.Value, "number ")
	if want == "integer" && isNumber && !strings.ContainsAny(literal, ".eE") {
		return kvsapi.Errorf(kvsapi.CodeSerialization, "%s must be of type integer, got %s, which is out of range", e.Field, literal)
	}
	return kvsapi.Errorf(kvsapi.CodeSerialization, "%s must be of type %s, got a JSON %s", e.Field, want, e.Value)
}

// jsonKind names the JSON type a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.Kind().String()
}
