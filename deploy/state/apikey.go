package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// API keys are stored by the SHA-256 of the key, never in clear:
//
//	apikey:{sha256 hex}    hash: tenant, admin, name, prefix, created_ms, rpm, tpm
//
// The prefix (the key's first characters) lets an operator tell keys apart
// in a listing without the listing holding anything that authenticates.
const apiKeyPrefix = "apikey:"

// KindAPIKeyRevoked announces a revoked key so gateways drop it from their
// caches at once.
const KindAPIKeyRevoked = "apikey.revoked"

// ErrNoKey is returned for a key that does not exist (or was revoked).
var ErrNoKey = errors.New("no such API key")

// APIKey is a stored key's record.
type APIKey struct {
	Hash    string // hex SHA-256 of the key
	Tenant  string
	Admin   bool // may use the management API
	Name    string
	Prefix  string
	Created time.Time
	// RPM and TPM limit the key's requests and tokens per minute; 0 is none.
	RPM, TPM int
}

// HashAPIKey is the one hash keys are stored and looked up by.
func HashAPIKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// PutAPIKey stores k; its Hash must come from HashAPIKey.
func (s *Store) PutAPIKey(ctx context.Context, k APIKey) error {
	if len(k.Hash) != 64 {
		return fmt.Errorf("api key hash %q is not a hex SHA-256", k.Hash)
	}
	if err := CheckName(k.Tenant); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	return s.rdb.HSet(ctx, apiKeyPrefix+k.Hash, map[string]any{
		"tenant": k.Tenant, "admin": strconv.FormatBool(k.Admin), "name": k.Name,
		"prefix": k.Prefix, "created_ms": k.Created.UnixMilli(), "rpm": k.RPM, "tpm": k.TPM,
	}).Err()
}

// LookupAPIKey returns the record of the key whose hash is hash.
func (s *Store) LookupAPIKey(ctx context.Context, hash string) (APIKey, error) {
	h, err := s.rdb.HGetAll(ctx, apiKeyPrefix+hash).Result()
	if err != nil {
		return APIKey{}, err
	}
	if len(h) == 0 {
		return APIKey{}, ErrNoKey
	}
	return decodeAPIKey(hash, h)
}

// APIKeys lists every stored key, in no particular order.
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	iter := s.rdb.Scan(ctx, 0, apiKeyPrefix+"*", 256).Iterator()
	for iter.Next(ctx) {
		hash := strings.TrimPrefix(iter.Val(), apiKeyPrefix)
		k, err := s.LookupAPIKey(ctx, hash)
		if errors.Is(err, ErrNoKey) {
			continue // revoked between SCAN and HGETALL
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, iter.Err()
}

// RevokeAPIKey deletes the key whose hash or prefix is id and announces it.
// A prefix must match exactly one key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	keys, err := s.APIKeys(ctx)
	if err != nil {
		return APIKey{}, err
	}
	var match []APIKey
	for _, k := range keys {
		if k.Hash == id || k.Prefix == id {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return APIKey{}, ErrNoKey
	case 1:
	default:
		return APIKey{}, fmt.Errorf("%d keys match %q: give the hash", len(match), id)
	}
	k := match[0]
	p := s.rdb.TxPipeline()
	p.Del(ctx, apiKeyPrefix+k.Hash)
	p.Publish(ctx, Channel, mustJSON(Change{Kind: KindAPIKeyRevoked, APIKey: k.Hash}))
	_, err = p.Exec(ctx)
	return k, err
}

func decodeAPIKey(hash string, h map[string]string) (APIKey, error) {
	k := APIKey{Hash: hash, Tenant: h["tenant"], Admin: h["admin"] == "true", Name: h["name"], Prefix: h["prefix"]}
	if ms, err := strconv.ParseInt(h["created_ms"], 10, 64); err == nil {
		k.Created = time.UnixMilli(ms)
	}
	k.RPM, _ = strconv.Atoi(h["rpm"])
	k.TPM, _ = strconv.Atoi(h["tpm"])
	if k.Tenant == "" {
		return APIKey{}, fmt.Errorf("api key %s…: record has no tenant", hash[:min(8, len(hash))])
	}
	return k, nil
}
