package schedule

// span is a block in slots, [s, e).
type span struct{ s, e int }

// board is the occupancy of the grid while a schedule is built. owner is 0
// for an empty slot, job+1 for a task's block and -1 for a fixed block of
// a task that is not being planned.
type board struct {
	avail []bool  // working, not busy, in scope and not past; read-only
	day   []int32 // local day of each slot; read-only
	owner []int32
	used  []int32 // block slots per local day
	free  []int32 // usable slots per local day
	next  []int   // the first slot of the day after each day; read-only
	solo  []bool  // per job: it has no fixed blocks of its own; read-only

	// While a decode only adds blocks, a block of d slots that fit nowhere
	// from slot x on never will: dead[d] is the least such x. Jobs that
	// cannot be placed then cost one lookup, not a scan of the horizon.
	// Likewise no block of d or more slots can start before from[d].
	track bool
	dead  []int
	from  []int
	cap   int32 // slots per day, 0 for none
	brk   int   // free slots kept between blocks
	steps int   // work done, the search's budget
}

func (b *board) usable(i int) bool { return b.avail[i] && b.owner[i] == 0 }

// reach is where blocks of d slots can no longer start.
func (b *board) reach(d int) int {
	if !b.track {
		return len(b.owner)
	}
	return b.dead[min(d, len(b.dead)-1)]
}

// died records that no block of d or more slots fits from lo on.
func (b *board) died(d, lo int) {
	for k := d; b.track && k < len(b.dead) && b.dead[k] > lo; k++ {
		b.dead[k] = lo
	}
}

// track starts (or stops) remembering failures, for a decode.
func (b *board) tracking(on bool) {
	b.track = on
	if on {
		if b.dead == nil {
			b.dead, b.from = make([]int, 64), make([]int, 64)
		}
		for i := range b.dead {
			b.dead[i], b.from[i] = len(b.owner), 0
		}
	}
}

// start is where a scan for blocks of d slots may begin.
func (b *board) start(d, lo int) int {
	if !b.track {
		return max(lo, 0)
	}
	return max(lo, b.from[min(d, len(b.from)-1)], 0)
}

// failed records that no block of d or more slots starts in [lo, x),
// where lo was a scan's start.
func (b *board) failed(d, lo, x int) {
	if !b.track || d >= len(b.from) || lo > b.from[d] {
		return
	}
	for k := d; k < len(b.from) && b.from[k] < x; k++ {
		b.from[k] = x
	}
}

// skip reports whether slot i's whole day is out of reach: nothing free
// or the cap reached. Scans jump to the next day, which keeps placement
// fast on a full calendar.
func (b *board) skip(i int) bool {
	d := b.day[i]
	return b.free[d] == 0 || (b.cap > 0 && b.used[d] >= b.cap)
}

// clearBefore reports whether a block of job j may start at s: the break
// before it holds no block, and j's own blocks never touch (two touching
// blocks would be one block longer than its maximum).
func (b *board) clearBefore(s, j int) bool {
	for k := s - 1; k >= s-b.brk && k >= 0; k-- {
		if b.owner[k] != 0 {
			return false
		}
	}
	return s == 0 || b.owner[s-1] != int32(j+1)
}

// clearAfter is clearBefore for a block ending at e.
func (b *board) clearAfter(e, j int) bool {
	for k := e; k < e+b.brk && k < len(b.owner); k++ {
		if b.owner[k] != 0 {
			return false
		}
	}
	return e == len(b.owner) || b.owner[e] != int32(j+1)
}

// capOK reports whether [s, e) fits under the daily cap.
func (b *board) capOK(s, e int) bool {
	if b.cap == 0 {
		return true
	}
	n, d := int32(0), b.day[s]
	for i := s; i < e; i++ {
		if b.day[i] != d {
			d, n = b.day[i], 0
		}
		n++
		if b.used[d]+n > b.cap {
			return false
		}
	}
	return true
}

func (b *board) fill(j int, sp span) {
	for i := sp.s; i < sp.e; i++ {
		b.owner[i] = int32(j + 1)
		b.used[b.day[i]]++
		if b.avail[i] {
			b.free[b.day[i]]--
		}
	}
}

func (b *board) clear(sp span) {
	for i := sp.s; i < sp.e; i++ {
		b.owner[i] = 0
		b.used[b.day[i]]--
		if b.avail[i] {
			b.free[b.day[i]]++
		}
	}
}

// fits reports whether job j may take [s, e) on its own terms.
func (b *board) fits(j int, sp span) bool {
	if sp.s < 0 || sp.e > len(b.owner) || sp.e <= sp.s {
		return false
	}
	for i := sp.s; i < sp.e; i++ {
		if !b.usable(i) {
			return false
		}
	}
	return b.clearBefore(sp.s, j) && b.clearAfter(sp.e, j) && b.capOK(sp.s, sp.e)
}

// shape is how a job's remaining time may be cut.
type shape struct {
	d          int // slots to place
	minB, maxB int // block bounds in slots; maxB 0 for none
	parts      int // the most blocks
	split      bool
}

// placeEarliest puts job j's time into [lo, hi) as early as it goes: one
// block, or blocks as long as allowed from the earliest free slot. ok
// marks the slots it may use (nil for all). The blocks are on the board
// when it returns true; nothing changes when it returns false.
func (b *board) placeEarliest(j int, sh shape, lo, hi int, ok func(int) bool) ([]span, bool) {
	if !sh.split {
		run := 0
		end := min(hi, b.reach(sh.d)+sh.d-1)
		day := int32(-1)
		first := b.start(sh.d, lo)
		learn := ok == nil && b.solo[j]
		for i := first; i < end; i++ {
			b.steps++
			if b.day[i] != day {
				if day = b.day[i]; b.skip(i) {
					run = 0
					i = b.next[day] - 1
					continue
				}
			}
			if !b.usable(i) || (ok != nil && !ok(i)) {
				run = 0
				continue
			}
			run++
			if run >= sh.d {
				sp := span{i - sh.d + 1, i + 1}
				if b.clearBefore(sp.s, j) && b.clearAfter(sp.e, j) && b.capOK(sp.s, sp.e) {
					b.fill(j, sp)
					if learn {
						b.failed(sh.d, first, sp.e)
					}
					return []span{sp}, true
				}
			}
		}
		if learn {
			b.failed(sh.d, first, end-sh.d+1)
			if hi == len(b.owner) {
				b.died(sh.d, lo)
			}
		}
		return nil, false
	}
	var out []span
	rem := sh.d
	minB := min(sh.minB, sh.d)
	reach := b.reach(minB)
	for i := b.start(minB, lo); rem > 0 && i < hi && i < reach; {
		b.steps++
		if b.skip(i) {
			i = b.next[b.day[i]]
			continue
		}
		if !b.usable(i) || (ok != nil && !ok(i)) || !b.clearBefore(i, j) {
			i++
			continue
		}
		s, e := i, i
		limit := rem
		if sh.maxB > 0 {
			limit = min(limit, sh.maxB)
		}
		d, n := int32(-1), int32(0)
		for e < hi && e-s < limit && b.usable(e) && (ok == nil || ok(e)) {
			if b.cap > 0 {
				if b.day[e] != d {
					d, n = b.day[e], 0
				}
				if b.used[d]+n+1 > b.cap {
					break
				}
				n++
			}
			e++
			b.steps++
		}
		for e > s && !b.clearAfter(e, j) {
			e--
		}
		l := e - s
		left := sh.parts - len(out)
		good := l > 0 && left > 0
		if good && l < rem {
			if rem-l < minB {
				l = rem - minB
			}
			good = l >= minB && left > 1 && (sh.maxB == 0 || sh.parts >= 1<<20 || rem-l <= (left-1)*sh.maxB)
		}
		if !good {
			i = max(e, s+1)
			continue
		}
		sp := span{s, s + l}
		b.fill(j, sp)
		out = append(out, sp)
		rem -= l
		i = sp.e
	}
	if rem > 0 {
		for _, sp := range out {
			b.clear(sp)
		}
		return nil, false
	}
	return out, true
}
