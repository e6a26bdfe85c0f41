package workflow

import (
	"fmt"
	"strings"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// URLChecker refuses, when a workflow is saved, an http node URL that can
// never be public (outbound.Policy.CheckURL). The dial-time check still
// judges every URL a run renders.
type URLChecker interface {
	CheckURL(raw string) error
}

// checkURLs answers every http node (map bodies included) whose URL is
// known at save time and refused, at its path under body.definition. A
// templated URL is judged by its scheme and host when they come before the
// first {{; one whose host is computed is left to the dial-time check.
func checkURLs(spec *graph.Spec, check URLChecker) error {
	var fields []apperr.FieldError
	var walk func(s *graph.Spec, prefix string)
	walk = func(s *graph.Spec, prefix string) {
		for i := range s.Nodes {
			n := &s.Nodes[i]
			path := fmt.Sprintf("%snodes[%d]", prefix, i)
			if n.Type == graph.TypeHTTP {
				if u, ok := literalOrigin(n.URL); ok {
					if err := check.CheckURL(u); err != nil {
						fields = append(fields, apperr.FieldError{Path: "body.definition." + path + ".url", Message: err.Error()})
					}
				}
			}
			if n.Graph != nil {
				walk(n.Graph, path+".graph.")
			}
		}
	}
	walk(spec, "")
	if len(fields) == 0 {
		return nil
	}
	return &apperr.Error{Code: apperr.Invalid, Message: fmt.Sprintf("the workflow has %d problem(s)", len(fields)), Fields: fields}
}

// literalOrigin is the part of a URL template that is fixed text, when it
// holds the whole scheme and host.
func literalOrigin(tmpl string) (string, bool) {
	i := strings.Index(tmpl, "{{")
	if i < 0 {
		return tmpl, true
	}
	head := tmpl[:i]
	scheme := strings.Index(head, "://")
	if scheme < 0 {
		return "", false
	}
	rest := head[scheme+3:]
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		return head[:scheme+3+end] + "/", true
	}
	// "http://[::%25lo]:{{port}}/": the host is whole once a port begins.
	if end := strings.Index(rest, "]"); strings.HasPrefix(rest, "[") && end >= 0 {
		return head[:scheme+3+end+1] + "/", true
	}
	if end := strings.LastIndex(rest, ":"); end >= 0 && !strings.Contains(rest, "[") {
		return head[:scheme+3+end] + "/", true
	}
	return "", false // the host goes on inside the template
}
