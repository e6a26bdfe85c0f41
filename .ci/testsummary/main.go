// Command testsummary reads `go test -json` on stdin, prints each package's
// result line and the full output of failing tests, then counts leaf tests
// (by engine, for tests run per database) and ends with
// "N passed, N failed, N skipped".
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	outputs := map[string]*strings.Builder{}
	results := map[string]string{} // pkg/test -> pass|fail|skip
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // build errors and the like are not JSON
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if e.Test == "" {
				if strings.HasPrefix(e.Output, "ok") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "---") || strings.Contains(e.Output, "[no test files]") || strings.HasPrefix(e.Output, "panic") {
					fmt.Print(e.Output)
				}
				continue
			}
			if outputs[key] == nil {
				outputs[key] = &strings.Builder{}
			}
			outputs[key].WriteString(e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				continue
			}
			results[key] = e.Action
			if e.Action == "fail" && outputs[key] != nil {
				fmt.Print(outputs[key].String())
			}
		}
	}
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	counts := map[string]int{}
	engines := map[string]map[string]int{"sqlite": {}, "postgres": {}}
	for i, k := range keys {
		if i+1 < len(keys) && strings.HasPrefix(keys[i+1], k+"/") {
			continue // has subtests: count those instead
		}
		r := results[k]
		counts[r]++
		for eng := range engines {
			if strings.Contains(k+"/", "/"+eng+"/") {
				engines[eng][r]++
			}
		}
	}
	for _, eng := range []string{"sqlite", "postgres"} {
		c := engines[eng]
		fmt.Printf("per-engine tests on %s: %d passed, %d failed, %d skipped\n", eng, c["pass"], c["fail"], c["skip"])
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", counts["pass"], counts["fail"], counts["skip"])
}
