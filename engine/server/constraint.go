package server

import (
	"container/list"
	"sync"

	"github.com/graft-ai/graft/engine/grammar"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// maxCachedGrammars bounds the compiled schemas kept: clients send the same
// few schemas with every request, and each keeps its masks with it.
const maxCachedGrammars = 128

// grammarCache holds compiled schemas by their text, least recently used
// dropped first.
type grammarCache struct {
	mu    sync.Mutex
	byKey map[string]*list.Element
	order list.List // of *cachedGrammar, most recent first
}

type cachedGrammar struct {
	schema string
	g      *grammar.Grammar
}

var jsonObject = grammar.JSONObject()

// grammar returns the request's constraint compiled, nil when it has none.
func (s *Server) grammar(c *enginev1.Constraint) (*grammar.Grammar, error) {
	switch k := c.GetKind().(type) {
	case *enginev1.Constraint_JsonObject:
		if k.JsonObject {
			return jsonObject, nil
		}
	case *enginev1.Constraint_JsonSchema:
		return s.grammars.get(k.JsonSchema)
	}
	return nil, nil
}

func (c *grammarCache) get(schema string) (*grammar.Grammar, error) {
	c.mu.Lock()
	if e, ok := c.byKey[schema]; ok {
		c.order.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cachedGrammar).g, nil
	}
	c.mu.Unlock()
	g, err := grammar.Compile([]byte(schema))
	if err != nil {
		return nil, invalid("constraint.json_schema", err.Error())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]*list.Element{}
	}
	if _, ok := c.byKey[schema]; !ok {
		c.byKey[schema] = c.order.PushFront(&cachedGrammar{schema: schema, g: g})
		if c.order.Len() > maxCachedGrammars {
			last := c.order.Back()
			c.order.Remove(last)
			delete(c.byKey, last.Value.(*cachedGrammar).schema)
		}
	}
	return g, nil
}
