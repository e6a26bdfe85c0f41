package agent

import (
	"regexp"

	"github.com/pulse-run/pulse/internal/platform/regexlimit"
)

// Limits on blocked_patterns guardrails, beyond one pattern's
// (regexlimit): what is bounded is the compiled program, per pattern and
// per agent, and at run time the product of program size and text
// length.
const (
	// MaxPatternLength bounds a pattern's source, in bytes.
	MaxPatternLength = regexlimit.MaxLength
	// MaxPatternInsts bounds one pattern's compiled program.
	MaxPatternInsts = regexlimit.MaxInsts
	// MaxPatternInstsTotal bounds the programs of all an agent's patterns.
	MaxPatternInstsTotal = 4000
	// PatternWorkBudget bounds instructions × characters for one text
	// checked against a stage's pattern guardrails: about a second at
	// worst.
	PatternWorkBudget = 100_000_000
)

// PatternSize is the size of a pattern's compiled program (instructions),
// or why it is refused.
func PatternSize(p string) (int, error) { return regexlimit.Size(p) }

// CompilePattern compiles a pattern within the limits and gives its size.
func CompilePattern(p string) (*regexp.Regexp, int, error) { return regexlimit.Compile(p) }
