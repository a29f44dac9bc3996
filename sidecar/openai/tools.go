package openai

import (
	"encoding/json"
	"fmt"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// toolSpec is one entry of a chat request's tools.
type toolSpec struct {
	Type     string `json:"type"`
	Function *struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type toolMode int

const (
	toolsNone     toolMode = iota // no tools, or tool_choice "none": plain content
	toolsAuto                     // the model decides; calls are parsed from its output
	toolsRequired                 // at least one call, constrained to a JSON list of calls
	toolsNamed                    // one call of a named function, constrained to its parameters
)

// toolPlan is how a chat request's tools shape generation and its answer.
type toolPlan struct {
	mode   toolMode
	names  []string // the declared functions
	named  string   // the function of toolsNamed
	params map[string]json.RawMessage
}

// emptyParams is the parameters schema of a function that declares none.
const emptyParams = `{"type":"object","properties":{},"additionalProperties":false}`

// tools checks tools and tool_choice and returns the plan, with the
// constraint a required or named choice puts on generation.
func (req *chatRequest) tools() (*toolPlan, *enginev1.Constraint, *apiError) {
	plan := &toolPlan{params: map[string]json.RawMessage{}}
	if len(req.Tools) > 0 && string(req.Tools) != "null" {
		var specs []toolSpec
		if err := json.Unmarshal(req.Tools, &specs); err != nil {
			return nil, nil, badRequest("tools", "tools must be a list of {\"type\": \"function\", \"function\": {...}} objects: %v", err)
		}
		for i, t := range specs {
			p := fmt.Sprintf("tools[%d]", i)
			switch {
			case t.Type != "function":
				return nil, nil, badRequest(p+".type", "Invalid value for '%s.type': %q. Supported values are: 'function'.", p, t.Type)
			case t.Function == nil || t.Function.Name == "":
				return nil, nil, badRequest(p+".function.name", "Missing required parameter: '%s.function.name'.", p)
			case !validName(t.Function.Name):
				return nil, nil, badRequest(p+".function.name", "Invalid '%s.function.name': %q; it must hold only a-z, A-Z, 0-9, underscores and dashes, at most 64 of them.", p, t.Function.Name)
			}
			params := t.Function.Parameters
			if len(params) == 0 || string(params) == "null" {
				params = json.RawMessage(emptyParams)
			}
			plan.names = append(plan.names, t.Function.Name)
			plan.params[t.Function.Name] = params
		}
	}
	mode, name, e := req.toolChoice(len(plan.names) > 0)
	if e != nil {
		return nil, nil, e
	}
	plan.mode, plan.named = mode, name
	if mode == toolsNamed {
		if _, ok := plan.params[name]; !ok {
			return nil, nil, badRequest("tool_choice", "Invalid value for 'tool_choice': no function named %q in tools.", name)
		}
	}
	c, e := plan.constraint(req.ParallelToolCalls == nil || *req.ParallelToolCalls)
	return plan, c, e
}

// toolChoice reads "none", "auto", "required" or {"type": "function",
// "function": {"name": ...}}; the default is "auto" with tools, else "none".
func (req *chatRequest) toolChoice(haveTools bool) (toolMode, string, *apiError) {
	raw := req.ToolChoice
	if len(raw) == 0 || string(raw) == "null" {
		if haveTools {
			return toolsAuto, "", nil
		}
		return toolsNone, "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		mode, ok := map[string]toolMode{"none": toolsNone, "auto": toolsAuto, "required": toolsRequired}[s]
		if !ok {
			return 0, "", badRequest("tool_choice", "Invalid value for 'tool_choice': %q. Supported values are: 'none', 'auto', 'required' and a named function.", s)
		}
		if mode != toolsNone && !haveTools {
			return 0, "", badRequest("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
		}
		return mode, "", nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
		return 0, "", badRequest("tool_choice", "tool_choice must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}")
	}
	if !haveTools {
		return 0, "", badRequest("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
	}
	return toolsNamed, named.Function.Name, nil
}

// constraint is what a forced choice puts on generation: a named function's
// arguments object, or for "required" a JSON list of {"name", "parameters"}
// calls (one call when parallel calls are off), as vLLM constrains them.
func (p *toolPlan) constraint(parallel bool) (*enginev1.Constraint, *apiError) {
	switch p.mode {
	case toolsNamed:
		return &enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: string(p.params[p.named])}}, nil
	case toolsRequired:
	default:
		return nil, nil
	}
	defs := map[string]json.RawMessage{}
	var alts []json.RawMessage
	for _, name := range p.names {
		params, e := hoistDefs(p.params[name], defs)
		if e != nil {
			return nil, e
		}
		n, _ := json.Marshal(name)
		alts = append(alts, json.RawMessage(fmt.Sprintf(
			`{"type":"object","properties":{"name":{"const":%s},"parameters":%s},"required":["name","parameters"],"additionalProperties":false}`, n, params)))
	}
	schema := map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"anyOf": alts}}
	if !parallel {
		schema["maxItems"] = 1
	}
	if len(defs) > 0 {
		schema["$defs"] = defs
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return nil, badRequest("tools", "tools: %v", err)
	}
	return &enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: string(b)}}, nil
}

// hoistDefs moves a parameters schema's $defs to the combined schema's root,
// where its "#/$defs/..." references then resolve.
func hoistDefs(params json.RawMessage, defs map[string]json.RawMessage) (json.RawMessage, *apiError) {
	var m map[string]json.RawMessage
	if json.Unmarshal(params, &m) != nil {
		return params, nil // not an object: the engine says what is wrong
	}
	d, ok := m["$defs"]
	if !ok {
		return params, nil
	}
	var own map[string]json.RawMessage
	if err := json.Unmarshal(d, &own); err != nil {
		return nil, badRequest("tools", "tools: $defs must be an object: %v", err)
	}
	for k, v := range own {
		if _, clash := defs[k]; clash {
			return nil, badRequest("tools", "tools: two functions define $defs/%s; with tool_choice 'required' their definitions must have distinct names", k)
		}
		defs[k] = v
	}
	delete(m, "$defs")
	b, _ := json.Marshal(m)
	return b, nil
}
