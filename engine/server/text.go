package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/tokenizer"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// Tokenize encodes text; unset add_special_tokens follows the tokenizer's config.
func (s *Server) Tokenize(_ context.Context, req *enginev1.TokenizeRequest) (*enginev1.TokenizeResponse, error) {
	tok := s.eng.Loaded().Tokenizer
	add := req.AddSpecialTokens == nil || req.GetAddSpecialTokens()
	ids, err := tok.Encode(req.GetText(), add)
	if err != nil {
		return nil, invalid("text", err.Error())
	}
	out := &enginev1.TokenizeResponse{Ids: ids, Tokens: make([]string, len(ids))}
	for i, id := range ids {
		out.Tokens[i] = tok.Token(id)
	}
	return out, nil
}

// Detokenize decodes ids; an id outside the vocabulary is InvalidArgument.
func (s *Server) Detokenize(_ context.Context, req *enginev1.DetokenizeRequest) (*enginev1.DetokenizeResponse, error) {
	text, err := s.eng.Loaded().Tokenizer.Decode(req.GetIds(), req.GetSkipSpecialTokens())
	if err != nil {
		return nil, invalid("ids", err.Error())
	}
	return &enginev1.DetokenizeResponse{Text: text}, nil
}

// ApplyChatTemplate renders messages with the request's template, else the
// model's, else chattemplate.FallbackTemplate (ChatML).
func (s *Server) ApplyChatTemplate(ctx context.Context, req *enginev1.ApplyChatTemplateRequest) (*enginev1.ApplyChatTemplateResponse, error) {
	add := req.GetAddGenerationPrompt()
	text, err := s.renderChat(ctx, &enginev1.ChatPrompt{Messages: req.GetMessages(), ChatTemplate: req.GetChatTemplate(), AddGenerationPrompt: &add})
	if err != nil {
		return nil, err
	}
	return &enginev1.ApplyChatTemplateResponse{Text: text}, nil
}

// LoadAdapter registers a PEFT adapter directory with the engine.
func (s *Server) LoadAdapter(_ context.Context, req *enginev1.LoadAdapterRequest) (*enginev1.LoadAdapterResponse, error) {
	if req.GetPath() == "" {
		return nil, invalid("path", "path is empty: give the adapter directory")
	}
	info, err := s.eng.LoadAdapter(req.GetAdapterId(), req.GetPath())
	if err != nil {
		return nil, requestStatus(err)
	}
	return &enginev1.LoadAdapterResponse{Adapter: adapterInfo(info)}, nil
}

// UnloadAdapter forgets an adapter, waiting for its sequences when asked to.
func (s *Server) UnloadAdapter(ctx context.Context, req *enginev1.UnloadAdapterRequest) (*enginev1.UnloadAdapterResponse, error) {
	err := s.eng.UnloadAdapter(ctx, req.GetAdapterId(), req.GetWait())
	switch {
	case err == nil:
		return &enginev1.UnloadAdapterResponse{}, nil
	case errors.Is(err, engine.ErrAdapterNotFound):
		return nil, status.Error(codes.NotFound, err.Error())
	case errors.Is(err, engine.ErrAdapterBusy):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return nil, status.FromContextError(err).Err()
}

// ListAdapters reports every registered adapter and its tier.
func (s *Server) ListAdapters(context.Context, *enginev1.ListAdaptersRequest) (*enginev1.ListAdaptersResponse, error) {
	out := &enginev1.ListAdaptersResponse{}
	for _, a := range s.eng.Adapters() {
		out.Adapters = append(out.Adapters, adapterInfo(a))
	}
	return out, nil
}

func adapterInfo(a engine.AdapterInfo) *enginev1.AdapterInfo {
	tier := enginev1.AdapterTier_ADAPTER_TIER_DISK
	switch a.Tier {
	case engine.TierActive:
		tier = enginev1.AdapterTier_ADAPTER_TIER_ACTIVE
	case engine.TierHost:
		tier = enginev1.AdapterTier_ADAPTER_TIER_HOST
	}
	return &enginev1.AdapterInfo{
		AdapterId: a.ID, Path: a.Path, Tier: tier, Rank: uint32(a.Rank), TargetModules: a.Modules,
		SizeBytes: uint64(a.SizeBytes), RunningSequences: uint32(a.Running), WaitingSequences: uint32(a.Waiting),
		Merged: a.Merged,
	}
}

// tokenTexts caches the text each token stands for on its own, as OpenAI's
// logprobs show it: SentencePiece's "▁" is a space and a byte-fallback piece is
// its byte, so a word-initial token keeps its leading space (unlike Decode, whose
// decoder strips the first space of a text).
type tokenTexts struct {
	tok *tokenizer.Tokenizer
	m   sync.Map // int32 -> tokenText
}

// tokenText is a token's bytes and the text shown for them: the bytes
// themselves where they are UTF-8, else OpenAI's "bytes:\xe2\x80" (a byte
// of a longer character on its own; a proto string must be valid UTF-8).
type tokenText struct {
	text  string
	bytes []byte
}

func newTokenTexts(tok *tokenizer.Tokenizer) *tokenTexts { return &tokenTexts{tok: tok} }

func (t *tokenTexts) text(id int32) tokenText {
	if v, ok := t.m.Load(id); ok {
		return v.(tokenText)
	}
	b := t.compute(id)
	tt := tokenText{text: string(b), bytes: b}
	if !utf8.Valid(b) {
		var sb strings.Builder
		sb.WriteString("bytes:")
		for _, c := range b {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
		tt.text = sb.String()
	}
	t.m.Store(id, tt)
	return tt
}

// compute is id's bytes in the middle of a text (tokenizer.TokenBytes);
// special ids, which have none there, show the text Decode gives them.
func (t *tokenTexts) compute(id int32) []byte {
	if b := t.tok.TokenBytes(id); b != nil {
		return b
	}
	s, err := t.tok.Decode([]int32{id}, false)
	if err != nil {
		return []byte(t.tok.Token(id))
	}
	return []byte(s)
}
