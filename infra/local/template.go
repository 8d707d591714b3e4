package local

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is the part of template.yaml the local stack reads, so that the
// tables, queues, rules and function environments it creates are the ones
// that will be deployed.
type Template struct {
	Parameters map[string]struct {
		Type    string `json:"Type"`
		Default any    `json:"Default"`
		// AllowedPattern is a regular expression the whole value must match.
		AllowedPattern string `json:"AllowedPattern"`
	} `json:"Parameters"`
	Globals struct {
		Function map[string]any `json:"Function"`
	} `json:"Globals"`
	Resources map[string]Resource `json:"Resources"`
}

// Resource is one template resource with its properties left generic.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// ReadTemplate reads a SAM template, turning the short-form intrinsic
// functions (!Ref, !GetAtt, !Sub, ...) into their long form.
func ReadTemplate(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	tree, err := longForm(&root)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	raw, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	var t Template
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &t, nil
}

func longForm(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		return longForm(n.Content[0])
	case yaml.AliasNode:
		return longForm(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := longForm(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := longForm(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	default:
		if err := n.Decode(&v); err != nil {
			// A tagged scalar (!Ref Name) decodes as its string value.
			v = n.Value
		}
		if intrinsicTag(n.Tag) {
			v = n.Value
		}
	}
	if !intrinsicTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// intrinsicTag reports a CloudFormation short form such as !Ref; YAML's
// own tags start with "!!".
func intrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// resolver evaluates intrinsic functions against the local stack's names.
type resolver struct {
	params map[string]any
	refs   map[string]string // logical id -> Ref value (table name, queue URL, ...)
	arns   map[string]string // logical id -> Arn attribute
	region string
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (r *resolver) resolve(v any) (any, error) {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		if len(t) == 1 {
			for k, arg := range t {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := map[string]any{}
		for k, e := range t {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return r.ref(fmt.Sprint(arg))
	case "Fn::GetAtt":
		parts, _ := arg.([]any)
		if len(parts) != 2 || parts[1] != "Arn" {
			return nil, fmt.Errorf("unsupported GetAtt %v", arg)
		}
		arn, ok := r.arns[fmt.Sprint(parts[0])]
		if !ok {
			return nil, fmt.Errorf("GetAtt: no resource %v", parts[0])
		}
		return arn, nil
	case "Fn::Sub":
		format, vars := arg, map[string]any{}
		if list, ok := arg.([]any); ok && len(list) == 2 {
			format = list[0]
			m, _ := list[1].(map[string]any)
			for k, e := range m {
				x, err := r.resolve(e)
				if err != nil {
					return nil, err
				}
				vars[k] = x
			}
		}
		var subErr error
		s := subVar.ReplaceAllStringFunc(fmt.Sprint(format), func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := vars[name]; ok {
				return fmt.Sprint(v)
			}
			if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
				x, err := r.intrinsic("Fn::GetAtt", []any{res, attr})
				if err != nil {
					subErr = err
				}
				return fmt.Sprint(x)
			}
			x, err := r.ref(name)
			if err != nil {
				subErr = err
			}
			return fmt.Sprint(x)
		})
		return s, subErr
	case "Fn::Select":
		list, _ := arg.([]any)
		if len(list) != 2 {
			return nil, fmt.Errorf("bad Select %v", arg)
		}
		idx, err := r.resolve(list[0])
		if err != nil {
			return nil, err
		}
		items, err := r.resolve(list[1])
		if err != nil {
			return nil, err
		}
		arr, _ := items.([]any)
		i := 0
		fmt.Sscan(fmt.Sprint(idx), &i)
		if i < 0 || i >= len(arr) {
			return nil, fmt.Errorf("Select index %d out of range", i)
		}
		return arr[i], nil
	case "Fn::Split":
		list, _ := arg.([]any)
		if len(list) != 2 {
			return nil, fmt.Errorf("bad Split %v", arg)
		}
		s, err := r.resolve(list[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(fmt.Sprint(s), fmt.Sprint(list[0])) {
			out = append(out, p)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported intrinsic %s", fn)
}

func (r *resolver) ref(name string) (any, error) {
	switch name {
	case "AWS::Region":
		return r.region, nil
	case "AWS::AccountId":
		return accountID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::StackName":
		return StackName, nil
	}
	if v, ok := r.params[name]; ok {
		return v, nil
	}
	if v, ok := r.refs[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("Ref: unknown name %q", name)
}
