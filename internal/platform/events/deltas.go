package events

import (
	"strings"
	"time"
)

// DeltaEvery is how often one stream's token deltas may reach the bus: each
// publish is a NOTIFY or PUBLISH round trip, too much for every token.
const DeltaEvery = 50 * time.Millisecond

// Deltas coalesces token deltas on their way to the bus. Pieces whose
// other fields (the tags: a step, a node) are the same are joined; at most
// one batch leaves per DeltaEvery, and the caller flushes what is held
// before sending any other event, so order is kept. Tags must be
// comparable values. Not safe for concurrent use.
type Deltas struct {
	send func(data map[string]any) // a delta's data: the tags and "text"
	tags map[string]any
	held strings.Builder
	last time.Time
	now  func() time.Time // the clock; tests move it instead of sleeping
}

// NewDeltas returns a coalescer that hands each batch to send.
func NewDeltas(send func(data map[string]any)) *Deltas { return &Deltas{send: send, now: time.Now} }

// Add takes one delta's data: its "text" and its tags.
func (d *Deltas) Add(data map[string]any) {
	if d.held.Len() > 0 && !sameTags(d.tags, data) {
		d.Flush()
	}
	if d.held.Len() == 0 {
		d.tags = make(map[string]any, len(data))
		for k, v := range data {
			if k != "text" {
				d.tags[k] = v
			}
		}
	}
	text, _ := data["text"].(string)
	d.held.WriteString(text)
	if d.now().Sub(d.last) >= DeltaEvery {
		d.Flush()
	}
}

// Flush sends what is held.
func (d *Deltas) Flush() {
	if d.held.Len() == 0 {
		return
	}
	data := make(map[string]any, len(d.tags)+1)
	for k, v := range d.tags {
		data[k] = v
	}
	data["text"] = d.held.String()
	d.held.Reset()
	d.last = d.now()
	d.send(data)
}

func sameTags(tags, data map[string]any) bool {
	n := 0
	for k, v := range data {
		if k == "text" {
			continue
		}
		if t, ok := tags[k]; !ok || t != v {
			return false
		}
		n++
	}
	return n == len(tags)
}
