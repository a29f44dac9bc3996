package kvcache

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// BlockHash names the contents of one full block: every token up to its end and
// what computed them (the adapter). Equal hashes mean equal K/V, so a block with
// a known hash is reused rather than computed again. It is SHA-256, so a
// collision, which would silently serve another prompt's K/V, is not a concern.
type BlockHash [32]byte

// HashBlocks returns the hash of each full block of tokens, as a chain: block
// i's hash covers root, block i-1's hash and block i's tokens, so it names the
// whole prefix up to its end. root names what computes the K/V beyond the
// tokens (the adapter's content digest; zero for the base model). A partly
// filled last block has no hash: it is still being written.
func HashBlocks(root [32]byte, tokens []int32, blockSize int) []BlockHash {
	n := len(tokens) / blockSize
	if n == 0 {
		return nil
	}
	out := make([]BlockHash, n)
	prev := BlockHash(root)
	for i := range out {
		out[i] = HashNext(root, prev, tokens[i*blockSize:(i+1)*blockSize])
		prev = out[i]
	}
	return out
}

// HashNext is the hash of the block of tokens that follows the block named
// prev (root itself for the first block), so a sequence names each block it
// fills as it goes.
func HashNext(root [32]byte, prev BlockHash, tokens []int32) BlockHash {
	buf := make([]byte, 0, 2*sha256.Size+4*len(tokens))
	buf = append(buf, root[:]...)
	buf = append(buf, prev[:]...)
	for _, t := range tokens {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(t))
	}
	return sha256.Sum256(buf)
}

// prefixIndex maps hashes to the blocks holding them. A block stays indexed
// while it is allocated and after it is freed, until Allocate hands it out again
// (evicts it): the free queue's order is the eviction order.
type prefixIndex struct {
	byHash    map[BlockHash]int32
	hashOf    map[int32]BlockHash
	evictions uint64
}

func (x *prefixIndex) evict(id int32) {
	if h, ok := x.hashOf[id]; ok {
		delete(x.hashOf, id)
		delete(x.byHash, h)
		x.evictions++
	}
}

func (x *prefixIndex) check(numBlocks int) error {
	if len(x.byHash) != len(x.hashOf) {
		return fmt.Errorf("kvcache: prefix index has %d hashes for %d blocks", len(x.byHash), len(x.hashOf))
	}
	for h, id := range x.byHash {
		if id < 0 || int(id) >= numBlocks || x.hashOf[id] != h {
			return fmt.Errorf("kvcache: prefix index entry for block %d is inconsistent", id)
		}
	}
	return nil
}

// Register records that allocated block id now holds the full block named h.
// A block already named, or a hash another block already holds (two sequences
// computed the same prefix at once), is left as it is: the other copy serves.
func (p *BlockPool) Register(id int32, h BlockHash) {
	if !p.Allocated(id) {
		return
	}
	x := &p.prefix
	if _, named := x.hashOf[id]; named {
		return
	}
	if _, held := x.byHash[h]; held {
		return
	}
	if x.byHash == nil {
		x.byHash, x.hashOf = map[BlockHash]int32{}, map[int32]BlockHash{}
	}
	x.byHash[h], x.hashOf[id] = id, h
}

// Cached returns the blocks holding the longest prefix of hashes, in order.
func (p *BlockPool) Cached(hashes []BlockHash) []int32 {
	var ids []int32
	for _, h := range hashes {
		id, ok := p.prefix.byHash[h]
		if !ok {
			break
		}
		ids = append(ids, id)
	}
	return ids
}

// NumCachedFree is how many of ids are free (cached, unreferenced): taking them
// leaves that many fewer blocks for Allocate.
func (p *BlockPool) NumCachedFree(ids []int32) int {
	n := 0
	for _, id := range ids {
		if p.refs[id] == 0 {
			n++
		}
	}
	return n
}

// NumCachedBlocks is the number of blocks holding a known hash, free or not.
func (p *BlockPool) NumCachedBlocks() int { return len(p.prefix.hashOf) }

// Evictions counts cached blocks handed out again for other contents.
func (p *BlockPool) Evictions() uint64 { return p.prefix.evictions }

// AdoptCached starts the empty table t with cached blocks ids (from Cached), taking
// a reference to each: free ones leave the free queue.
func (t *Table) AdoptCached(p *BlockPool, ids []int32) {
	if len(t.blocks) != 0 {
		panic("kvcache: AdoptCached on a table that holds blocks")
	}
	t.blockSize = p.blockSize
	for _, id := range ids {
		p.share(id)
		t.blocks = append(t.blocks, id)
	}
}
