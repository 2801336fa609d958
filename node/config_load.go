package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable the node reads.
const EnvPrefix = "CTINODE_"

// Kinds of configuration fields, as flags and environment variables spell
// their values.
const (
	KindString   = "string"   // as is
	KindStrings  = "strings"  // env: comma-separated; flag: repeatable
	KindDuration = "duration" // Go duration: 500ms, 5s, 1h30m
	KindInt      = "int"      // decimal
	KindBool     = "bool"     // true or false
	KindYAML     = "yaml"     // a YAML (or JSON) value, e.g. [{peer: ID}]
)

// ConfigField is one settable field of Config: its key in ctinode.yaml,
// its environment variable and its flag on `ctinode run`.
type ConfigField struct {
	Key  string // "log.level"
	Env  string // "CTINODE_LOG_LEVEL"
	Flag string // "log-level" (without the dashes)
	Kind string // KindString, ...
	// Default is the default value as a flag or variable would spell it.
	Default string

	index []int
	typ   reflect.Type
}

// ConfigFields lists every settable field of Config, in declaration order.
// Flags and environment names are generated from it, so a new field is
// settable every way without more code.
func ConfigFields() []ConfigField {
	def := reflect.ValueOf(DefaultConfig(""))
	var out []ConfigField
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			key := prefix + name
			idx := append(slices.Clone(index), i)
			if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
				walk(sf.Type, key+".", idx)
				continue
			}
			f := ConfigField{
				Key:   key,
				Env:   EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key)),
				Flag:  strings.NewReplacer(".", "-", "_", "-").Replace(key),
				Kind:  kindOf(sf.Type),
				index: idx,
				typ:   sf.Type,
			}
			f.Default = formatDefault(def.FieldByIndex(idx), f.Kind)
			out = append(out, f)
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

func kindOf(t reflect.Type) string {
	switch {
	case t == durationType:
		return KindDuration
	case t.Kind() == reflect.String:
		return KindString
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return KindStrings
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return KindInt
	case t.Kind() == reflect.Bool, t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		return KindBool
	}
	return KindYAML
}

func formatDefault(v reflect.Value, kind string) string {
	switch kind {
	case KindDuration:
		return time.Duration(v.Int()).String()
	case KindStrings:
		return strings.Join(v.Interface().([]string), ",")
	case KindBool:
		if v.Kind() == reflect.Pointer {
			return strconv.FormatBool(v.IsNil() || v.Elem().Bool())
		}
	}
	if kind == KindYAML {
		return ""
	}
	return fmt.Sprint(v.Interface())
}

// Setting is one value from outside the file: an environment variable or a
// flag. Later settings override earlier ones.
type Setting struct {
	// Key is the field's key ("log.level").
	Key string
	// Values is the value as given; several for a repeated flag.
	Values []string
	// Source names the setting in errors: "CTINODE_LOG_LEVEL", "--log-level".
	Source string
	// Append adds to a list instead of replacing it (--peer).
	Append bool
	// Split splits values on commas (environment variables of lists).
	Split bool
}

// EnvSettings returns the settings of the CTINODE_* variables in environ
// (os.Environ's form). An unknown CTINODE_* variable is an error naming
// it, so a misspelt one does not pass silently.
func EnvSettings(environ []string) ([]Setting, error) {
	byEnv := map[string]ConfigField{}
	for _, f := range ConfigFields() {
		byEnv[f.Env] = f
	}
	var out []Setting
	var errs []error
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		f, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: environment variable %s: no such setting (see docs/CONFIG.md)", ErrConfig, name))
			continue
		}
		out = append(out, Setting{Key: f.Key, Values: []string{val}, Source: name, Split: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, errors.Join(errs...)
}

// LoadConfig builds the configuration of the node in dir from its layers:
// defaults < DIR/ctinode.yaml < settings (environment variables, then
// flags). A missing file is the defaults. Unknown keys and values of the
// wrong type are errors naming the field; Validate checks the rest.
func LoadConfig(dir string, settings ...Setting) (Config, error) {
	cfg := DefaultConfig(dir)
	k := koanf.New(".")
	path := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(path); err == nil {
		if err := k.Load(file.Provider(path), kyaml.Parser()); err != nil {
			return cfg, fmt.Errorf("%w: %s: %v", ErrConfig, ConfigFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	fields := ConfigFields()
	byKey := make(map[string]*ConfigField, len(fields))
	for i := range fields {
		byKey[fields[i].Key] = &fields[i]
	}
	if err := checkKeys(k, byKey); err != nil {
		return cfg, err
	}
	var errs []error
	for _, s := range settings {
		f, ok := byKey[s.Key]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s: no such setting %q", ErrConfig, s.Source, s.Key))
			continue
		}
		v, err := settingValue(f, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %s: %v", ErrConfig, s.Source, f.Key, err))
			continue
		}
		if s.Append && f.Kind == KindStrings {
			v = append(k.Strings(f.Key), v.([]string)...)
		}
		// Replace, never merge: a layer sets a field's whole value.
		k.Delete(f.Key)
		if err := k.Set(f.Key, v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrConfig, s.Source, err))
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	rv := reflect.ValueOf(&cfg).Elem()
	for _, f := range fields {
		if !k.Exists(f.Key) {
			continue
		}
		raw := k.Get(f.Key)
		if raw == nil {
			continue // "key:" with no value: the default
		}
		dst := reflect.New(f.typ)
		if err := decodeField(raw, dst.Interface()); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrConfig, f.Key, err))
			continue
		}
		rv.FieldByIndex(f.index).Set(dst.Elem())
	}
	cfg.DataDir = dir
	return cfg, errors.Join(errs...)
}

// checkKeys refuses keys of the file that are no field, so a typo does not
// pass silently. Map fields (trust.ceilings) have free keys below them.
func checkKeys(k *koanf.Koanf, byKey map[string]*ConfigField) error {
	var errs []error
	for _, key := range k.Keys() {
		if _, ok := byKey[key]; ok {
			continue
		}
		known := false
		for fk, f := range byKey {
			if f.typ.Kind() == reflect.Map && strings.HasPrefix(key, fk+".") {
				known = true
				break
			}
		}
		if known {
			continue
		}
		if isSection(key, byKey) && k.Get(key) == nil {
			continue // "taxii:" with nothing below it
		}
		if isSection(key, byKey) {
			errs = append(errs, fmt.Errorf("%w: %s: want a mapping of its fields", ErrConfig, key))
			continue
		}
		errs = append(errs, fmt.Errorf("%w: %s: unknown key in %s (see docs/CONFIG.md)", ErrConfig, key, ConfigFile))
	}
	return errors.Join(errs...)
}

func isSection(key string, byKey map[string]*ConfigField) bool {
	for fk := range byKey {
		if strings.HasPrefix(fk, key+".") {
			return true
		}
	}
	return false
}

// settingValue turns a setting's text into the value the field decodes.
func settingValue(f *ConfigField, s Setting) (any, error) {
	vals := s.Values
	if s.Split && f.Kind == KindStrings {
		vals = nil
		for _, v := range s.Values {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					vals = append(vals, p)
				}
			}
		}
	}
	if f.Kind == KindStrings {
		return slices.Clone(vals), nil
	}
	if len(vals) == 0 {
		return nil, errors.New("no value")
	}
	v := vals[len(vals)-1]
	switch f.Kind {
	case KindString:
		return v, nil
	case KindDuration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%q: want a duration like 5s or 1m30s", v)
		}
		return d, nil
	case KindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: want an integer", v)
		}
		return n, nil
	case KindBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q: want true or false", v)
		}
		return b, nil
	}
	var out any
	if err := yaml.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("want a YAML value: %v", err)
	}
	return out, nil
}

// decodeField decodes one field strictly: no weak typing (a number is not
// a string), unknown keys in nested values are errors, and a duration must
// be written with its unit.
func decodeField(raw any, dst any) error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:     "yaml",
		ErrorUnused: true,
		Result:      dst,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.TextUnmarshallerHookFunc(),
		),
	})
	if err != nil {
		return err
	}
	if err := d.Decode(raw); err != nil {
		return cleanDecodeError(err)
	}
	return nil
}

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%q: want a duration like 5s or 1m30s", v)
		}
		return d, nil
	}
	return nil, fmt.Errorf("%v: want a duration with its unit, like 5s", data)
}

// cleanDecodeError drops mapstructure's "decoding failed due to the
// following error(s):" preamble; the caller names the field.
func cleanDecodeError(err error) error {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "error(s):\n\n"); ok {
		msg = rest
	}
	return errors.New(strings.TrimSpace(msg))
}

// reflectField is f's value in c, pointers followed (for comparing).
func reflectField(c Config, f ConfigField) any {
	v := reflect.ValueOf(c).FieldByIndex(f.index)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	return v.Interface()
}
