package agent

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Limits on blocked_patterns guardrails. Go's regexp matches in time
// linear in the text, but the factor is the size of the compiled program,
// and counted repetition multiplies it: (?:(?:a|b|ab|ba){1000})! is 24
// characters and 7,000 instructions, a second on 20k characters. So what
// is bounded is the program, per pattern and per agent, and at run time
// the product of program size and text length.
const (
	// MaxPatternLength bounds a pattern's source, in bytes.
	MaxPatternLength = 500
	// MaxPatternInsts bounds one pattern's compiled program.
	MaxPatternInsts = 1000
	// MaxPatternInstsTotal bounds the programs of all an agent's patterns.
	MaxPatternInstsTotal = 4000
	// PatternWorkBudget bounds instructions × characters for one check of
	// a text against one guardrail's patterns: about a second at worst.
	PatternWorkBudget = 100_000_000
)

// PatternSize is the size of a pattern's compiled program (instructions),
// or why it is refused.
func PatternSize(p string) (int, error) {
	if len(p) > MaxPatternLength {
		return 0, fmt.Errorf("is longer than %d characters", MaxPatternLength)
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("is not a valid regular expression")
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, fmt.Errorf("is not a valid regular expression")
	}
	if n := len(prog.Inst); n > MaxPatternInsts {
		return n, fmt.Errorf("is too complex: it compiles to %d instructions, more than the %d allowed (nested or large repetition counts)", n, MaxPatternInsts)
	}
	return len(prog.Inst), nil
}

// CompilePattern compiles a pattern within the limits and gives its size.
func CompilePattern(p string) (*regexp.Regexp, int, error) {
	n, err := PatternSize(p)
	if err != nil {
		return nil, 0, err
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, 0, fmt.Errorf("is not a valid regular expression")
	}
	return re, n, nil
}
