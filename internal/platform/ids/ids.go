// Package ids makes the identifiers Pulse stores: UUIDv7 strings, which sort
// by creation time and so keep B-tree inserts local on both engines.
package ids

import "github.com/google/uuid"

// New returns a new UUIDv7 string.
func New() string { return uuid.Must(uuid.NewV7()).String() }

// Valid reports whether s is a UUID in canonical form.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
