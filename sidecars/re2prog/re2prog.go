// Package re2prog computes the size of the program RE2 compiles a regular expression to, the
// number RE2::ProgramSize() reports and Envoy compares with its runtime limit
// re2.max_program_size.error_level before it accepts a safe_regex. It follows RE2's default
// options (UTF-8, Perl syntax, capturing groups), the way Envoy compiles safe_regex with
// google_re2.
//
// The expression is parsed with Go's regexp/syntax (whose syntax is RE2's), its tree is
// brought to the form RE2's parser builds, then simplified, compiled and flattened the way
// RE2 does, counting instructions without matching anything. Differences from RE2 that
// remain are listed on ProgramSize.
package re2prog

import (
	"errors"
	"regexp/syntax"
	"slices"
	"unicode"
)

// ProgramSize returns the number of instructions of the flattened RE2 program for expr, or
// the error of Go's regexp.Compile when expr does not parse.
//
// It reproduces what RE2 does: the required literal prefix of an expression starting with ^
// is stripped before compiling (RE2 matches it separately); leading ^ and trailing $ are
// removed; adjacent repetitions of the same piece coalesce (a+a becomes a{2,}); counted
// repetitions expand; character classes become byte ranges of their UTF-8 encodings, with
// RE2's trie of leading bytes, its cache of common suffixes and its special case for
// U+0080-U+10FFFF; (?i) letters fold ASCII in one instruction and other letters become
// classes of their case orbit; the unanchored .*? loop, captures (two instructions each),
// empty-width assertions, the match and the fail instruction are counted; and the program
// is flattened (alternations become lists, every list's end counts) as Prog::Flatten does.
//
// It may differ from RE2 where Go's parser builds a different tree than RE2's: Go merges
// adjacent single-character branches of an alternation into one class before it factors
// the alternation's common prefixes, RE2 after (0|0|1 is 5 here, 7 in RE2; a|b|bc); an
// alternation whose branches share a leading empty-width assertion (^a|^b; RE2 factors it
// out, Go does not), (?s). merged with other branches into one class (Go merges, RE2 keeps
// the alternation), adjacent literals that differ only in flags other than case folding,
// and Unicode classes or case orbits whose tables differ between Go's and RE2's Unicode
// versions. \C (any byte), which RE2 accepts, is an error here as it is in Go. Expressions
// too large for RE2's memory budget (hundreds of thousands of instructions) fail in RE2 but
// get a size here.
func ProgramSize(expr string) (int, error) { return ProgramSizeWithin(expr, maxInst) }

// ErrOverBudget is ProgramSizeWithin's error for a program that needs more instructions than
// its budget before it is flattened.
var ErrOverBudget = errors.New("re2prog: program over budget")

// ProgramSizeWithin is ProgramSize, but stops compiling with ErrOverBudget once the program
// holds more than budget instructions before flattening: asking whether an expression is over
// a limit then costs no more for \pL{1000} (a second to compile) than for one just over it.
// Flattening leaves a program more than half its unflattened size (at most 1.8 times smaller
// on 50,000 random expressions), so with ErrOverBudget it has more than budget/2 instructions.
func ProgramSizeWithin(expr string, budget int) (int, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, err
	}
	n := fromGo(re)
	if suffix, ok := requiredPrefix(n); ok {
		n = suffix
	}
	n = simplify(coalesce(n))
	return compile(n, min(budget, maxInst))
}

// errTooLarge is returned when the program would exceed the instructions RE2 allows with
// its default memory budget.
var errTooLarge = errors.New("re2prog: pattern too large for RE2's default memory budget")

// op is the kind of a node, as RE2's RegexpOp.
type op uint8

const (
	opNoMatch op = iota
	opEmptyMatch
	opLiteral
	opLiteralString
	opConcat
	opAlternate
	opStar
	opPlus
	opQuest
	opRepeat
	opCapture
	opAnyChar
	opBeginLine
	opEndLine
	opWordBoundary
	opNoWordBoundary
	opBeginText
	opEndText
	opCharClass
)

// node is an expression in the form RE2's parser builds.
type node struct {
	op        op
	foldCase  bool
	nonGreedy bool
	runes     []rune // literal or literal string
	ranges    []rng  // character class, sorted and merged
	sub       []*node
	min, max  int
	cap       int
}

type rng struct{ lo, hi rune }

// fromGo converts Go's parse tree to RE2's.
func fromGo(re *syntax.Regexp) *node {
	nodes := fromGoSpliced(re)
	if len(nodes) == 1 {
		return nodes[0]
	}
	return &node{op: opConcat, sub: nodes}
}

// leafOps are the Go operators without operands or data, and RE2's for each.
var leafOps = map[syntax.Op]op{
	syntax.OpNoMatch: opNoMatch, syntax.OpEmptyMatch: opEmptyMatch, syntax.OpAnyChar: opAnyChar,
	syntax.OpBeginLine: opBeginLine, syntax.OpEndLine: opEndLine, syntax.OpBeginText: opBeginText,
	syntax.OpEndText: opEndText, syntax.OpWordBoundary: opWordBoundary, syntax.OpNoWordBoundary: opNoWordBoundary,
}

// fromGoSpliced converts re to one node, or to several for a case-folded literal that RE2
// splits into literals and classes, for the caller to splice into its concatenation.
func fromGoSpliced(re *syntax.Regexp) []*node {
	fold := re.Flags&syntax.FoldCase != 0
	nongreedy := re.Flags&syntax.NonGreedy != 0
	if o, ok := leafOps[re.Op]; ok {
		return []*node{{op: o}}
	}
	switch re.Op {
	case syntax.OpLiteral:
		return literal(re.Rune, fold)
	case syntax.OpCharClass:
		n := &node{op: opCharClass}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n.ranges = append(n.ranges, rng{re.Rune[i], re.Rune[i+1]})
		}
		return []*node{n}
	case syntax.OpAnyCharNotNL:
		return []*node{{op: opCharClass, ranges: []rng{{0, '\n' - 1}, {'\n' + 1, unicode.MaxRune}}}}
	case syntax.OpCapture:
		return []*node{{op: opCapture, cap: re.Cap, sub: []*node{fromGo(re.Sub[0])}}}
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		o := map[syntax.Op]op{syntax.OpStar: opStar, syntax.OpPlus: opPlus, syntax.OpQuest: opQuest}[re.Op]
		sub := fromGo(re.Sub[0])
		// RE2's parser squashes a repetition of a repetition with the same flags: a** is
		// a*, and any mix of *, + and ? is *.
		if (sub.op == opStar || sub.op == opPlus || sub.op == opQuest) && sub.nonGreedy == nongreedy && sub.foldCase == fold {
			if sub.op != o {
				sub.op = opStar
			}
			return []*node{sub}
		}
		return []*node{{op: o, nonGreedy: nongreedy, foldCase: fold, sub: []*node{sub}}}
	case syntax.OpRepeat:
		return []*node{{op: opRepeat, nonGreedy: nongreedy, foldCase: fold, min: re.Min, max: re.Max, sub: []*node{fromGo(re.Sub[0])}}}
	case syntax.OpConcat:
		n := &node{op: opConcat}
		for _, s := range re.Sub {
			n.sub = append(n.sub, fromGoSpliced(s)...)
		}
		return []*node{n}
	case syntax.OpAlternate:
		n := &node{op: opAlternate}
		for _, s := range re.Sub {
			n.sub = append(n.sub, fromGo(s))
		}
		return []*node{n}
	}
	return []*node{{op: opNoMatch}}
}

// literal converts a literal string as RE2's parser does: under (?i) a rune with a case
// orbit of its ASCII upper and lower case stays a literal (matched ignoring ASCII case), a
// rune with any other orbit becomes a class of that orbit, and runs of literals become
// literal strings.
func literal(runes []rune, fold bool) []*node {
	var out []*node
	var run []rune
	flush := func() {
		switch len(run) {
		case 0:
			return
		case 1:
			out = append(out, &node{op: opLiteral, foldCase: fold, runes: run})
		default:
			out = append(out, &node{op: opLiteralString, foldCase: fold, runes: run})
		}
		run = nil
	}
	for _, r := range runes {
		if !fold || unicode.SimpleFold(r) == r {
			run = append(run, r)
			continue
		}
		orbit := []rune{r}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			orbit = append(orbit, f)
		}
		slices.Sort(orbit)
		if len(orbit) == 2 && 'A' <= orbit[0] && orbit[0] <= 'Z' && orbit[1] == orbit[0]+'a'-'A' {
			run = append(run, orbit[1])
			continue
		}
		flush()
		n := &node{op: opCharClass}
		for _, o := range orbit {
			if k := len(n.ranges); k > 0 && n.ranges[k-1].hi+1 == o {
				n.ranges[k-1].hi = o
			} else {
				n.ranges = append(n.ranges, rng{o, o})
			}
		}
		out = append(out, n)
	}
	flush()
	return out
}

// requiredPrefix strips a leading ^ and the literal after it, as RE2 does before it compiles
// (it matches that prefix on its own); the rest is compiled unanchored.
func requiredPrefix(n *node) (*node, bool) {
	if n.op != opConcat {
		return nil, false
	}
	i := 0
	for i < len(n.sub) && n.sub[i].op == opBeginText {
		i++
	}
	if i == 0 || i >= len(n.sub) {
		return nil, false
	}
	if o := n.sub[i].op; o != opLiteral && o != opLiteralString {
		return nil, false
	}
	i++
	switch rest := n.sub[i:]; len(rest) {
	case 0:
		return &node{op: opEmptyMatch}, true
	case 1:
		return rest[0], true
	default:
		return &node{op: opConcat, sub: rest}, true
	}
}

// equal reports whether two nodes are the same expression, as RE2's Regexp::Equal.
func equal(a, b *node) bool {
	if a.op != b.op || len(a.sub) != len(b.sub) {
		return false
	}
	switch a.op {
	case opLiteral, opLiteralString:
		if a.foldCase != b.foldCase || !slices.Equal(a.runes, b.runes) {
			return false
		}
	case opCharClass:
		if !slices.Equal(a.ranges, b.ranges) {
			return false
		}
	case opStar, opPlus, opQuest:
		if a.nonGreedy != b.nonGreedy {
			return false
		}
	case opRepeat:
		if a.nonGreedy != b.nonGreedy || a.min != b.min || a.max != b.max {
			return false
		}
	case opCapture:
		if a.cap != b.cap {
			return false
		}
	}
	for i := range a.sub {
		if !equal(a.sub[i], b.sub[i]) {
			return false
		}
	}
	return true
}

// coalesce merges adjacent repetitions of the same literal, class or any character in
// concatenations (a+a* is a{1,}, [a-z]+[a-z] is [a-z]{2,}), as RE2's CoalesceWalker.
func coalesce(n *node) *node {
	if len(n.sub) == 0 {
		return n
	}
	subs := make([]*node, len(n.sub))
	for i, s := range n.sub {
		subs[i] = coalesce(s)
	}
	c := *n
	c.sub = subs
	if n.op != opConcat {
		return &c
	}
	can := false
	for i := 0; i+1 < len(subs); i++ {
		if canCoalesce(subs[i], subs[i+1]) {
			can = true
			break
		}
	}
	if !can {
		return &c
	}
	for i := 0; i+1 < len(subs); i++ {
		if canCoalesce(subs[i], subs[i+1]) {
			subs[i], subs[i+1] = doCoalesce(subs[i], subs[i+1])
		}
	}
	c.sub = slices.DeleteFunc(subs, func(s *node) bool { return s.op == opEmptyMatch })
	return &c
}

func isRepetition(o op) bool { return o == opStar || o == opPlus || o == opQuest || o == opRepeat }

func canCoalesce(r1, r2 *node) bool {
	if !isRepetition(r1.op) {
		return false
	}
	s := r1.sub[0]
	if s.op != opLiteral && s.op != opCharClass && s.op != opAnyChar {
		return false
	}
	if isRepetition(r2.op) && equal(s, r2.sub[0]) && r1.nonGreedy == r2.nonGreedy {
		return true
	}
	if equal(s, r2) {
		return true
	}
	return s.op == opLiteral && r2.op == opLiteralString && r2.runes[0] == s.runes[0] && s.foldCase == r2.foldCase
}

// doCoalesce returns what replaces r1 and r2: an empty match and the merged repetition, or
// the repetition and the rest of a literal string.
func doCoalesce(r1, r2 *node) (*node, *node) {
	rep := &node{op: opRepeat, nonGreedy: r1.nonGreedy, foldCase: r1.foldCase, sub: []*node{r1.sub[0]}}
	switch r1.op {
	case opStar:
		rep.min, rep.max = 0, -1
	case opPlus:
		rep.min, rep.max = 1, -1
	case opQuest:
		rep.min, rep.max = 0, 1
	case opRepeat:
		rep.min, rep.max = r1.min, r1.max
	}
	empty := &node{op: opEmptyMatch}
	switch r2.op {
	case opStar:
		rep.max = -1
	case opPlus:
		rep.min++
		rep.max = -1
	case opQuest:
		if rep.max != -1 {
			rep.max++
		}
	case opRepeat:
		rep.min += r2.min
		if r2.max == -1 {
			rep.max = -1
		} else if rep.max != -1 {
			rep.max += r2.max
		}
	case opLiteralString:
		r := r1.sub[0].runes[0]
		k := 1
		for k < len(r2.runes) && r2.runes[k] == r {
			k++
		}
		rep.min += k
		if rep.max != -1 {
			rep.max += k
		}
		if k == len(r2.runes) {
			return empty, rep
		}
		rest := r2.runes[k:]
		o := opLiteralString
		if len(rest) == 1 {
			o = opLiteral
		}
		return rep, &node{op: o, foldCase: r2.foldCase, runes: rest}
	default: // the literal, class or any character itself
		rep.min++
		if rep.max != -1 {
			rep.max++
		}
	}
	return empty, rep
}

// simplify expands counted repetitions and special classes, as RE2's SimplifyWalker.
func simplify(n *node) *node {
	switch n.op {
	case opConcat, opAlternate, opCapture:
		subs := make([]*node, len(n.sub))
		changed := false
		for i, s := range n.sub {
			subs[i] = simplify(s)
			changed = changed || subs[i] != s
		}
		if !changed {
			return n
		}
		c := *n
		c.sub = subs
		return &c
	case opStar, opPlus, opQuest:
		sub := simplify(n.sub[0])
		if sub.op == opEmptyMatch {
			return sub
		}
		if sub == n.sub[0] {
			return n
		}
		// Idempotent when the flags agree; RE2 applies this only to a changed subexpression.
		if sub != n.sub[0] && sub.op == n.op && sub.nonGreedy == n.nonGreedy && sub.foldCase == n.foldCase {
			return sub
		}
		c := *n
		c.sub = []*node{sub}
		return &c
	case opRepeat:
		sub := simplify(n.sub[0])
		if sub.op == opEmptyMatch {
			return sub
		}
		return simplifyRepeat(sub, n.min, n.max, n.nonGreedy, n.foldCase)
	case opCharClass:
		if len(n.ranges) == 0 {
			return &node{op: opNoMatch}
		}
		if len(n.ranges) == 1 && n.ranges[0] == (rng{0, unicode.MaxRune}) {
			return &node{op: opAnyChar}
		}
	}
	return n
}

// starPlusQuest builds a repetition as RE2's Regexp::StarPlusOrQuest, squashing a repetition
// of a repetition with the same flags.
func starPlusQuest(o op, sub *node, nongreedy, fold bool) *node {
	if sub.nonGreedy == nongreedy && sub.foldCase == fold {
		if sub.op == o {
			return sub
		}
		if sub.op == opStar || sub.op == opPlus || sub.op == opQuest {
			if sub.op == opStar {
				return sub
			}
			return &node{op: opStar, nonGreedy: nongreedy, foldCase: fold, sub: sub.sub}
		}
	}
	return &node{op: o, nonGreedy: nongreedy, foldCase: fold, sub: []*node{sub}}
}

// simplifyRepeat expands x{n,m} as RE2: x{2,} is xx+, x{2,5} is xx(x(x(x)?)?)?.
func simplifyRepeat(x *node, min, max int, nongreedy, fold bool) *node {
	concat := func(subs []*node) *node {
		if len(subs) == 1 {
			return subs[0]
		}
		return &node{op: opConcat, sub: subs}
	}
	if max == -1 {
		switch min {
		case 0:
			return starPlusQuest(opStar, x, nongreedy, fold)
		case 1:
			return starPlusQuest(opPlus, x, nongreedy, fold)
		}
		subs := make([]*node, min)
		for i := range min - 1 {
			subs[i] = x
		}
		subs[min-1] = starPlusQuest(opPlus, x, nongreedy, fold)
		return concat(subs)
	}
	if min == 0 && max == 0 {
		return &node{op: opEmptyMatch}
	}
	if min == 1 && max == 1 {
		return x
	}
	var n *node
	if min > 0 {
		subs := make([]*node, min)
		for i := range subs {
			subs[i] = x
		}
		n = concat(subs)
	}
	if max > min {
		suf := starPlusQuest(opQuest, x, nongreedy, fold)
		for i := min + 1; i < max; i++ {
			suf = starPlusQuest(opQuest, &node{op: opConcat, sub: []*node{x, suf}}, nongreedy, fold)
		}
		if n == nil {
			n = suf
		} else {
			n = &node{op: opConcat, sub: []*node{n, suf}}
		}
	}
	if n == nil {
		return &node{op: opNoMatch}
	}
	return n
}
