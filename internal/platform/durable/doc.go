// Package durable is the one durable-execution core: everything about
// claiming a unit of stored work and keeping it while it executes. Agent
// runs, workflow runs, generic jobs and the planner's re-plans use it;
// a new kind of durable work registers a Kind (and, when it keeps its own
// table of leased items, a Table) and writes nothing of this again.
//
// The River queue stays the queue: the core sits around it. A River job
// says "work item X"; the core then
//   - claims the item in its table ((item, ok, err), never nil, nil);
//   - names the one process identity that holds it (Instance);
//   - renews the leases of every item this process holds with one
//     statement per table, every fifth of the lease;
//   - reaps: items whose holder went silent go back to the queue, items
//     past their deadline fail, unanswered interrupts time out;
//   - relays a cancel to the process holding the item;
//   - gives every kind the same worker defaults, and turns a panic into a
//     failed item, logged with its stack.
//
// It imports no feature: features describe their table through Table.
package durable
