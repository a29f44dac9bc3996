package train

// attnTask is one (sequence, key/value head) pair: the unit of parallel work,
// so that the backward pass's writes to dk and dv never overlap.
func (n *net[T]) attnTasks(pk *packed, fn func(s int, sp span, kvh int)) {
	kvHeads := n.b.cfg.KVHeads
	parallel(n.pool, len(pk.seqs)*kvHeads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := i / kvHeads
			fn(s, pk.seqs[s], i%kvHeads)
		}
	})
}

// window returns the first key position token t of a sequence attends to.
func (n *net[T]) window(t int) int {
	if w := n.b.cfg.SlidingWindow; w > 0 && t-w+1 > 0 {
		return t - w + 1
	}
	return 0
}
