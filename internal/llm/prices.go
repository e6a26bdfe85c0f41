package llm

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

//go:embed prices.json
var defaultPrices []byte

// Price is a model's price in micro-credits per million tokens.
type Price struct {
	Input  int64 `json:"input"`
	Output int64 `json:"output"`
}

// Prices turn usage into cost. Money is integers: micro-credits.
type Prices struct{ byModel map[string]Price }

// LoadPrices reads the embedded table, then the file (if any) on top of it.
func LoadPrices(file string) (*Prices, error) {
	p := &Prices{byModel: map[string]Price{}}
	if err := p.merge(defaultPrices); err != nil {
		return nil, fmt.Errorf("llm: embedded prices: %w", err)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if err := p.merge(b); err != nil {
			return nil, fmt.Errorf("llm: prices file %s: %w", file, err)
		}
	}
	return p, nil
}

func (p *Prices) merge(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for model, v := range raw {
		if strings.HasPrefix(model, "_") {
			continue
		}
		var pr Price
		if err := json.Unmarshal(v, &pr); err != nil || pr.Input < 0 || pr.Output < 0 {
			return fmt.Errorf("price of %s: want {\"input\": n, \"output\": n} micro-credits per million tokens", model)
		}
		p.byModel[model] = pr
	}
	return nil
}

// Cost of usage on model ("provider/model"), rounded up to a whole
// micro-credit; 0 for a model with no price (local models, unknown ones).
func (p *Prices) Cost(model string, u Usage) int64 {
	if p == nil {
		return 0
	}
	pr, ok := p.byModel[model]
	if !ok {
		return 0
	}
	total := int64(u.InputTokens)*pr.Input + int64(u.OutputTokens)*pr.Output
	return (total + 999_999) / 1_000_000
}
