package config

import (
	"reflect"
	"testing"
)

// fill sets every field of v (recursively) to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(v.Field(i))
			}
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem())
		v.Set(p)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Float64:
		v.SetFloat(1)
	default:
		panic("fill: add kind " + v.Kind().String())
	}
}

// shares reports a map, slice or pointer that a and b have in common.
func shares(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if s := shares(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); s != "" {
				return s
			}
		}
	case reflect.Map, reflect.Slice, reflect.Pointer:
		if !a.IsNil() && a.UnsafePointer() == b.UnsafePointer() {
			return path
		}
		if a.Kind() == reflect.Slice {
			for i := range a.Len() {
				if s := shares(a.Index(i), b.Index(i), path+"[]"); s != "" {
					return s
				}
			}
		}
		if a.Kind() == reflect.Map {
			for it := a.MapRange(); it.Next(); {
				if s := shares(it.Value(), b.MapIndex(it.Key()), path+"{}"); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

// Every field of Image, present and future, is copied and not shared.
func TestImageCloneIsDeep(t *testing.T) {
	var img Image
	fill(reflect.ValueOf(&img).Elem())
	c := img.Clone()
	if !reflect.DeepEqual(img, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", img, c)
	}
	if s := shares(reflect.ValueOf(img), reflect.ValueOf(c), "Image"); s != "" {
		t.Fatalf("clone shares %s with the original", s)
	}
	var zero Image
	if z := zero.Clone(); !reflect.DeepEqual(zero, z) {
		t.Fatalf("zero clone: %+v", z)
	}
}
