package db

// Queued is how many writes wait for a committer (tests gather a group
// with it).
func (b *Batcher) Queued() int { return len(b.in) }

// Committers is how many groups may commit at once.
func (b *Batcher) Committers() int { return b.committers }
