package config

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Every property of plugin.yml's schema has a field in the decoded
// configuration, and every field a property: an option the binary accepts
// but never reads, or reads but never validates, fails here.
func TestSchemaPropertiesHaveConfigFields(t *testing.T) {
	sch, keys, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	fields := jsonFields(reflect.TypeOf(raw{}))
	for _, k := range keys {
		if !fields[k] {
			t.Errorf("plugin.yml's option %q has no field in the decoded configuration (config.raw): add one, decode and check it", k)
		}
	}
	for f := range fields {
		if sch.Properties[f] == nil {
			t.Errorf("config.raw's field %q is not a property of plugin.yml's schema: add it to plugin.yml or remove the field", f)
		}
	}
	// Options whose values are objects: their properties and the nested
	// struct's fields match too.
	nested := map[string]reflect.Type{
		"nodes":                reflect.TypeOf(rawNode{}),
		"registry-credentials": reflect.TypeOf(rawRegistryCredential{}),
		"secrets-objects":      reflect.TypeOf(raw{}.SecretsObjects),
	}
	for opt, typ := range nested {
		prop := sch.Properties[opt]
		if prop == nil {
			t.Errorf("plugin.yml has no option %q", opt)
			continue
		}
		if prop.Items2020 != nil {
			prop = prop.Items2020
		}
		var props []string
		for p := range prop.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		var got []string
		for f := range jsonFields(typ) {
			got = append(got, f)
		}
		sort.Strings(got)
		if strings.Join(props, ",") != strings.Join(got, ",") {
			t.Errorf("%s: plugin.yml's properties %v, decoded fields %v: make them the same", opt, props, got)
		}
	}
}

// jsonFields are the JSON names of a struct type's fields.
func jsonFields(typ reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}
