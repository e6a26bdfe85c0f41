package schedule

import (
	"math/bits"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// exactMissed is the fewest deadlines any schedule can miss, found by
// trying every set of tasks to be on time, largest first, each with a
// dynamic program over the slots. It knows nothing of the engine's
// heuristics: only the rules (free slots, release and due, block sizes,
// block count, breaks, and a task's blocks never touching).
func exactMissed(pb *problem) int {
	n := len(pb.jobs)
	subsets := make([]int, 0, 1<<n)
	for s := range 1 << n {
		subsets = append(subsets, s)
	}
	sort.SliceStable(subsets, func(a, b int) bool { return bits.OnesCount(uint(subsets[a])) > bits.OnesCount(uint(subsets[b])) })
	for _, s := range subsets {
		if feasible(pb, s) {
			return n - bits.OnesCount(uint(s))
		}
	}
	return n
}

// feasible reports whether every job in set can be placed on time.
func feasible(pb *problem, set int) bool {
	type state struct {
		i      int
		rem    [6]int8
		parts  [6]int8
		cur    int8 // the job whose block covers slot i-1, or -1
		run    int8 // its length so far
		idle   int8 // free slots since the last block ended, capped
		lastBy int8 // the job of the last block
	}
	brk := pb.b.brk
	memo := map[state]bool{}
	// free[i] counts the usable slots before i; byDue lists the set's jobs
	// by due date, for the preemptive bound that prunes most states.
	free := make([]int, pb.n+1)
	for i := range pb.n {
		free[i+1] = free[i]
		if pb.avail[i] && pb.owner0[i] == 0 {
			free[i+1]++
		}
	}
	var byDue []int
	for k := range pb.jobs {
		if set&(1<<k) != 0 {
			byDue = append(byDue, k)
		}
	}
	sort.SliceStable(byDue, func(a, b int) bool { return pb.jobs[byDue[a]].due < pb.jobs[byDue[b]].due })
	hopeless := func(st state) bool {
		need := 0
		for _, k := range byDue {
			need += int(st.rem[k])
			if d := min(pb.jobs[k].due, pb.n); need > 0 && (d <= st.i || need > free[d]-free[st.i]) {
				return true
			}
		}
		return false
	}
	var rec func(st state) bool
	canEnd := func(st state) bool {
		if st.cur < 0 {
			return true
		}
		sh := pb.jobs[st.cur].shape
		return int(st.run) >= min(sh.minB, sh.d) && (st.rem[st.cur] == 0 || int(st.rem[st.cur]) >= sh.minB)
	}
	rec = func(st state) bool {
		done := true
		for _, k := range byDue {
			done = done && st.rem[k] == 0
		}
		if done {
			return canEnd(st)
		}
		if st.i == pb.n || hopeless(st) {
			return false
		}
		if st.i == pb.n {
			if !canEnd(st) {
				return false
			}
			for k := range pb.jobs {
				if set&(1<<k) != 0 && st.rem[k] > 0 {
					return false
				}
			}
			return true
		}
		if v, ok := memo[st]; ok {
			return v
		}
		i := st.i
		ok := false
		usable := pb.avail[i] && pb.owner0[i] == 0
		slotFor := func(k int) bool {
			jb := &pb.jobs[k]
			return usable && i >= jb.rel && (!jb.hasDue || i < jb.due) && st.rem[k] > 0
		}
		// Continue the current block.
		if st.cur >= 0 && slotFor(int(st.cur)) {
			sh := pb.jobs[st.cur].shape
			if sh.maxB == 0 || int(st.run) < sh.maxB {
				nx := st
				nx.i++
				nx.rem[st.cur]--
				nx.run++
				ok = rec(nx)
			}
		}
		if !ok && canEnd(st) {
			// Leave the slot empty.
			nx := st
			nx.i++
			if st.cur >= 0 {
				nx.lastBy, nx.cur, nx.run, nx.idle = st.cur, -1, 0, 0
			}
			nx.idle = min(nx.idle+1, int8(brk+1))
			ok = rec(nx)
			// Or start a block of another job here.
			gap := st.idle
			if st.cur >= 0 {
				gap = 0
			}
			for k := 0; !ok && k < len(pb.jobs); k++ {
				if set&(1<<k) == 0 || !slotFor(k) || int(gap) < brk || int(st.parts[k]) >= pb.jobs[k].shape.parts {
					continue
				}
				if int8(k) == st.cur || (gap == 0 && i > 0 && pb.owner0[i-1] == int32(k+1)) {
					continue
				}
				nx := st
				nx.i++
				nx.cur, nx.run, nx.idle = int8(k), 1, 0
				nx.rem[k]--
				nx.parts[k]++
				ok = rec(nx)
			}
		}
		memo[st] = ok
		return ok
	}
	st := state{cur: -1, lastBy: -1, idle: int8(brk + 1)}
	for k := range pb.jobs {
		st.rem[k] = int8(pb.jobs[k].shape.d)
	}
	return rec(st)
}

// plainEDF is the baseline: jobs by due date (dependencies first), each at
// the earliest slot it fits, late or not, with the engine's own placement
// rules. It returns the deadlines missed.
func plainEDF(pb *problem) int {
	order := pb.topo(func(a, b int) bool {
		da, db := pb.jobs[a].due, pb.jobs[b].due
		if !pb.jobs[a].hasDue {
			da = unlimited
		}
		if !pb.jobs[b].hasDue {
			db = unlimited
		}
		return da < db || (da == db && a < b)
	})
	copy(pb.b.owner, pb.owner0)
	copy(pb.b.used, pb.used0)
	copy(pb.b.free, pb.free0)
	sol := &solution{blocks: make([][]span, len(pb.jobs)), placed: make([]bool, len(pb.jobs))}
	missed := 0
	for _, j := range order {
		jb := &pb.jobs[j]
		lo, ready := pb.release(sol, j)
		if ready {
			sol.blocks[j], sol.placed[j] = pb.b.placeEarliest(j, jb.shape, lo, pb.n, nil)
		}
		if jb.hasDue && (!sol.placed[j] || sol.blocks[j][len(sol.blocks[j])-1].e > jb.due) {
			missed++
		}
	}
	return missed
}

// smallParams is a contested day: 3 to 6 tasks with due dates in about
// eight working hours cut by meetings.
func smallParams(rng *rand.Rand) Params {
	day := time.Date(2025, 6, 2, 7, 0, 0, 0, time.UTC)
	p := Params{Now: day, End: day.Add(13 * time.Hour), Location: time.UTC, AllowLate: rng.IntN(2) == 0}
	p.Working = everyDay(Range{At(8, 0), At(12, 0)}, Range{At(13, 0), At(8+9, 0)})
	if rng.IntN(3) == 0 {
		p.Break = 15 * time.Minute
	}
	for range rng.IntN(4) {
		s := day.Add(time.Duration(4+rng.IntN(40)) * Slot)
		p.Busy = append(p.Busy, Busy{Start: s, End: s.Add(time.Duration(1+rng.IntN(4)) * Slot)})
	}
	for i := range 3 + rng.IntN(4) {
		t := Task{ID: string(rune('a' + i)), Title: string(rune('A' + i)), Minutes: 15 * (1 + rng.IntN(10)),
			Due: day.Add(time.Duration(6+rng.IntN(40)) * Slot), Priority: []Priority{Low, Medium, High, Urgent}[rng.IntN(4)]}
		if rng.IntN(3) == 0 {
			t.EarliestStart = day.Add(time.Duration(4+rng.IntN(20)) * Slot)
			if t.Due.Before(t.EarliestStart) {
				t.Due = t.EarliestStart.Add(time.Duration(t.Minutes) * time.Minute)
			}
		}
		if rng.IntN(2) == 0 {
			t.Splittable = true
			t.MinBlock = 15 * (1 + rng.IntN(3))
			t.MaxSplits = rng.IntN(4)
		}
		p.Tasks = append(p.Tasks, t)
	}
	return p
}

// The optimality check: on 1,000 random small instances the
// engine misses the optimal number of deadlines on at least 95% and is
// never worse than plain earliest-deadline-first.
func TestMissedDeadlinesAgainstExactSolver(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2025, 6))
	const n = 1000
	optimal, edfOptimal, beatEDF, contested := 0, 0, 0, 0
	for i := range n {
		p := smallParams(rng)
		r, err := Solve(p)
		require.NoError(t, err)
		pb, err := newProblem(&p)
		require.NoError(t, err)
		best := exactMissed(pb)
		edf := plainEDF(pb)
		got := r.Cost.Missed
		require.GreaterOrEqual(t, got, best, "instance %d: the engine beat the exact solver, so one of them is wrong", i)
		require.LessOrEqual(t, got, edf, "instance %d: worse than plain EDF", i)
		if got == best {
			optimal++
		}
		if edf == best {
			edfOptimal++
		}
		if got < edf {
			beatEDF++
		}
		if best > 0 {
			contested++
		}
	}
	t.Logf("engine optimal on %d/%d; plain EDF optimal on %d/%d; engine better than EDF on %d; %d instances must miss a deadline",
		optimal, n, edfOptimal, n, beatEDF, contested)
	require.GreaterOrEqual(t, optimal, n*95/100)
}
