package openai

import (
	"encoding/json"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// responseFormat is OpenAI's response_format: "text", "json_object", or
// "json_schema" with the schema to follow.
type responseFormat struct {
	Type       string            `json:"type"`
	JSONSchema *jsonSchemaFormat `json:"json_schema"`
}

type jsonSchemaFormat struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

// constraint is the engine's form of the format; nil for free text. The
// engine compiles the schema and refuses what it cannot enforce.
func (f *responseFormat) constraint() (*enginev1.Constraint, *apiError) {
	if f == nil {
		return nil, nil
	}
	switch f.Type {
	case "text":
		return nil, nil
	case "json_object":
		return &enginev1.Constraint{Kind: &enginev1.Constraint_JsonObject{JsonObject: true}}, nil
	case "json_schema":
		js := f.JSONSchema
		switch {
		case js == nil:
			return nil, badRequest("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
		case js.Name == "":
			return nil, badRequest("response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.")
		case !validName(js.Name):
			return nil, badRequest("response_format.json_schema.name", "Invalid 'response_format.json_schema.name': %q; it must hold only a-z, A-Z, 0-9, underscores and dashes, at most 64 of them.", js.Name)
		}
		schema := string(js.Schema)
		if len(js.Schema) == 0 || schema == "null" {
			schema = "{}" // OpenAI's default: any JSON
		}
		return &enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: schema}}, nil
	case "":
		return nil, badRequest("response_format.type", "Missing required parameter: 'response_format.type'.")
	}
	return nil, badRequest("response_format.type", "Invalid value for 'response_format.type': %q. Supported values are: 'text', 'json_object' and 'json_schema'.", f.Type)
}

// validName is OpenAI's rule for schema and function names.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
