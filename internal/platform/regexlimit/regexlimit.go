// Package regexlimit compiles regular expressions that users write within
// bounds. Go's regexp matches in time linear in the text, but the factor
// is the size of the compiled program, and counted repetition multiplies
// it: (?:(?:a|b|ab|ba){1000})! is 24 characters and 7,000 instructions, a
// second on 20k characters. So the program is bounded when compiled, and
// a match is bounded by instructions × text length before it starts.
package regexlimit

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Limits on one pattern.
const (
	// MaxLength bounds a pattern's source, in bytes.
	MaxLength = 500
	// MaxInsts bounds a pattern's compiled program.
	MaxInsts = 1000
)

// Size is the size of a pattern's compiled program (instructions), or why
// it is refused.
func Size(p string) (int, error) {
	if len(p) > MaxLength {
		return 0, fmt.Errorf("is longer than %d characters", MaxLength)
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("is not a valid regular expression")
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, fmt.Errorf("is not a valid regular expression")
	}
	if n := len(prog.Inst); n > MaxInsts {
		return n, fmt.Errorf("is too complex: it compiles to %d instructions, more than the %d allowed (nested or large repetition counts)", n, MaxInsts)
	}
	return len(prog.Inst), nil
}

// Compile compiles a pattern within the limits and gives its size.
func Compile(p string) (*regexp.Regexp, int, error) {
	n, err := Size(p)
	if err != nil {
		return nil, 0, err
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, 0, fmt.Errorf("is not a valid regular expression")
	}
	return re, n, nil
}
