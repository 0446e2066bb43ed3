package catalog

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/switchyard/gateway/core/catalog/catalogfile"
)

// matcher is a compiled match clause. It is applied to a lower-cased model name: string operands are
// lower-cased once here (the source compares without case), regexes are compiled once.
type matcher struct {
	op   string
	s    string
	re   *regexp.Regexp
	subs []matcher
}

func compile(c catalogfile.Clause) (matcher, error) {
	m := matcher{op: c.Op}
	switch c.Op {
	case catalogfile.OpEquals, catalogfile.OpStartsWith, catalogfile.OpEndsWith, catalogfile.OpContains:
		m.s = strings.ToLower(c.Value)
	case catalogfile.OpRegex:
		re, err := regexp.Compile(c.Value)
		if err != nil {
			return m, fmt.Errorf("regex %q: %w", c.Value, err)
		}
		m.re = re
	case catalogfile.OpOr, catalogfile.OpAnd:
		if len(c.Clauses) == 0 {
			return m, fmt.Errorf("empty %q clause", c.Op)
		}
		m.subs = make([]matcher, len(c.Clauses))
		for i, sub := range c.Clauses {
			var err error
			if m.subs[i], err = compile(sub); err != nil {
				return m, err
			}
		}
	default:
		return m, fmt.Errorf("unknown match operator %q", c.Op)
	}
	return m, nil
}

// match reports whether the lower-cased name satisfies the clause.
func (m *matcher) match(name string) bool {
	switch m.op {
	case catalogfile.OpEquals:
		return name == m.s
	case catalogfile.OpStartsWith:
		return strings.HasPrefix(name, m.s)
	case catalogfile.OpEndsWith:
		return strings.HasSuffix(name, m.s)
	case catalogfile.OpContains:
		return strings.Contains(name, m.s)
	case catalogfile.OpRegex:
		return m.re.MatchString(name)
	case catalogfile.OpOr:
		for i := range m.subs {
			if m.subs[i].match(name) {
				return true
			}
		}
		return false
	case catalogfile.OpAnd:
		for i := range m.subs {
			if !m.subs[i].match(name) {
				return false
			}
		}
		return true
	}
	return false
}

// equalsOnly returns the names a clause made only of "equals" (alone or under "or") accepts, and whether it
// is such a clause: those are found by a map lookup instead of a scan.
func (m *matcher) equalsOnly() ([]string, bool) {
	switch m.op {
	case catalogfile.OpEquals:
		return []string{m.s}, true
	case catalogfile.OpOr:
		var all []string
		for i := range m.subs {
			names, ok := m.subs[i].equalsOnly()
			if !ok {
				return nil, false
			}
			all = append(all, names...)
		}
		return all, true
	}
	return nil, false
}
