package re2prog

import (
	"slices"
	"unicode"
)

// opcode is the kind of a program instruction, as RE2's InstOp.
type opcode uint8

const (
	instFail opcode = iota
	instAlt
	instAltMatch
	instByteRange
	instCapture
	instEmptyWidth
	instMatch
	instNop
)

type inst struct {
	op        opcode
	out, out1 int
	lo, hi    byte
	fold      bool
}

// patch is a hole to fill: instruction id<<1, or id<<1|1 for out1.
type patch int

// frag is a compiled fragment: its first instruction (0 when it cannot match), its holes,
// and whether it can match the empty string.
type frag struct {
	begin    int
	end      []patch
	nullable bool
}

// maxInst is about the instructions RE2 allows under its default memory budget (two thirds
// of 8 MiB, 8 bytes an instruction).
const maxInst = (8 << 20) * 2 / 3 / 8

// compiler builds the program RE2's Compiler would, in the same order, so that flattening
// sees the same graph.
type compiler struct {
	inst      []inst
	ninst     int
	budget    int // the most instructions allocated: maxInst, or less for ProgramSizeWithin
	runeCache map[runeKey]int
	runeRange frag
	failed    bool
}

type runeKey struct {
	lo, hi byte
	fold   bool
	next   int
}

func (c *compiler) alloc(n int) int {
	if c.ninst+n > c.budget {
		c.failed = true
		return -1
	}
	id := c.ninst
	for i := range n {
		if id+i < len(c.inst) {
			c.inst[id+i] = inst{}
		} else {
			c.inst = append(c.inst, inst{})
		}
	}
	c.ninst += n
	return id
}

func (c *compiler) patch(l []patch, to int) {
	for _, p := range l {
		if p&1 == 0 {
			c.inst[p>>1].out = to
		} else {
			c.inst[p>>1].out1 = to
		}
	}
}

func join(a, b []patch) []patch {
	return append(append(make([]patch, 0, len(a)+len(b)), a...), b...)
}

func (c *compiler) cat(a, b frag) frag {
	if a.begin == 0 || b.begin == 0 {
		return frag{}
	}
	// Elide a leading no-op.
	if in := c.inst[a.begin]; in.op == instNop && len(a.end) == 1 && a.end[0] == patch(a.begin<<1) && in.out == 0 {
		c.patch(a.end, b.begin)
		return b
	}
	c.patch(a.end, b.begin)
	return frag{a.begin, b.end, a.nullable && b.nullable}
}

func (c *compiler) alt(a, b frag) frag {
	if a.begin == 0 {
		return b
	}
	if b.begin == 0 {
		return a
	}
	id := c.alloc(1)
	if id < 0 {
		return frag{}
	}
	c.inst[id] = inst{op: instAlt, out: a.begin, out1: b.begin}
	return frag{id, join(a.end, b.end), a.nullable || b.nullable}
}

// loop allocates the Alt of a repetition: greedy tries a first.
func (c *compiler) loop(a int, nongreedy bool) (int, patch) {
	id := c.alloc(1)
	if id < 0 {
		return -1, 0
	}
	if nongreedy {
		c.inst[id] = inst{op: instAlt, out1: a}
		return id, patch(id << 1)
	}
	c.inst[id] = inst{op: instAlt, out: a}
	return id, patch(id<<1 | 1)
}

func (c *compiler) plus(a frag, nongreedy bool) frag {
	id, pl := c.loop(a.begin, nongreedy)
	if id < 0 {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{a.begin, []patch{pl}, a.nullable}
}

func (c *compiler) star(a frag, nongreedy bool) frag {
	// A nullable subexpression is compiled as (a+)? to keep the priorities right.
	if a.nullable {
		return c.quest(c.plus(a, nongreedy), nongreedy)
	}
	id, pl := c.loop(a.begin, nongreedy)
	if id < 0 {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{id, []patch{pl}, true}
}

func (c *compiler) quest(a frag, nongreedy bool) frag {
	if a.begin == 0 {
		return c.nop()
	}
	id, pl := c.loop(a.begin, nongreedy)
	if id < 0 {
		return frag{}
	}
	return frag{id, join([]patch{pl}, a.end), true}
}

// single is a fragment of the one instruction in, whose out is left to patch; nil when the
// program is too large.
func (c *compiler) single(in inst, nullable bool) frag {
	id := c.alloc(1)
	if id < 0 {
		return frag{}
	}
	c.inst[id] = in
	return frag{id, []patch{patch(id << 1)}, nullable}
}

func (c *compiler) byteRange(lo, hi byte, fold bool) frag {
	return c.single(inst{op: instByteRange, lo: lo, hi: hi, fold: fold}, false)
}

func (c *compiler) nop() frag { return c.single(inst{op: instNop}, true) }

func (c *compiler) match() frag {
	id := c.alloc(1)
	if id < 0 {
		return frag{}
	}
	c.inst[id] = inst{op: instMatch}
	return frag{begin: id}
}

func (c *compiler) emptyWidth() frag { return c.single(inst{op: instEmptyWidth}, true) }

func (c *compiler) capture(a frag) frag {
	if a.begin == 0 {
		return frag{}
	}
	id := c.alloc(2)
	if id < 0 {
		return frag{}
	}
	c.inst[id] = inst{op: instCapture, out: a.begin}
	c.inst[id+1] = inst{op: instCapture}
	c.patch(a.end, id+1)
	return frag{id, []patch{patch((id + 1) << 1)}, a.nullable}
}

// utf8 encodes r as RE2's runetochar does (surrogates included).
func utf8(r rune) []byte {
	switch {
	case r < 0x80:
		return []byte{byte(r)}
	case r < 0x800:
		return []byte{0xC0 | byte(r>>6), 0x80 | byte(r)&0x3F}
	case r < 0x10000:
		return []byte{0xE0 | byte(r>>12), 0x80 | byte(r>>6)&0x3F, 0x80 | byte(r)&0x3F}
	}
	return []byte{0xF0 | byte(r>>18), 0x80 | byte(r>>12)&0x3F, 0x80 | byte(r>>6)&0x3F, 0x80 | byte(r)&0x3F}
}

func (c *compiler) literal(r rune, fold bool) frag {
	if r < 0x80 {
		return c.byteRange(byte(r), byte(r), fold)
	}
	b := utf8(r)
	f := c.byteRange(b[0], b[0], false)
	for _, x := range b[1:] {
		f = c.cat(f, c.byteRange(x, x, false))
	}
	return f
}

// The rune range compiler: a character class is a trie of leading bytes over cached common
// suffixes of continuation bytes.

func (c *compiler) beginRange() {
	c.runeCache = map[runeKey]int{}
	c.runeRange = frag{}
}

func (c *compiler) uncachedSuffix(lo, hi byte, fold bool, next int) int {
	f := c.byteRange(lo, hi, fold)
	if f.begin == 0 {
		return 0
	}
	if next != 0 {
		c.patch(f.end, next)
	} else {
		c.runeRange.end = join(c.runeRange.end, f.end)
	}
	return f.begin
}

func (c *compiler) cachedSuffix(lo, hi byte, fold bool, next int) int {
	k := runeKey{lo, hi, fold, next}
	if id, ok := c.runeCache[k]; ok {
		return id
	}
	id := c.uncachedSuffix(lo, hi, fold, next)
	c.runeCache[k] = id
	return id
}

func (c *compiler) isCachedSuffix(id int) bool {
	in := c.inst[id]
	_, ok := c.runeCache[runeKey{in.lo, in.hi, in.fold, in.out}]
	return ok
}

func (c *compiler) addSuffix(id int) {
	if c.failed {
		return
	}
	if c.runeRange.begin == 0 {
		c.runeRange.begin = id
		return
	}
	c.runeRange.begin = c.addSuffixRecursive(c.runeRange.begin, id)
}

func (c *compiler) byteRangeEqual(a, b int) bool {
	x, y := c.inst[a], c.inst[b]
	return x.lo == y.lo && x.hi == y.hi && x.fold == y.fold
}

// findByteRange looks for id's byte range at the top of the trie at root: where is 0 for
// root itself, 1 for root's out1; found is false when it is not there.
func (c *compiler) findByteRange(root, id int) (where int, found bool) {
	if c.inst[root].op == instByteRange {
		return 0, c.byteRangeEqual(root, id)
	}
	if c.inst[root].op == instAlt && c.byteRangeEqual(c.inst[root].out1, id) {
		return 1, true
	}
	return 0, false
}

func (c *compiler) addSuffixRecursive(root, id int) int {
	where, found := c.findByteRange(root, id)
	if !found {
		alt := c.alloc(1)
		if alt < 0 {
			return 0
		}
		c.inst[alt] = inst{op: instAlt, out: root, out1: id}
		return alt
	}
	br := root
	if where == 1 {
		br = c.inst[root].out1
	}
	if c.isCachedSuffix(br) {
		// A cached suffix is shared: clone the head before changing it.
		clone := c.alloc(1)
		if clone < 0 {
			return 0
		}
		old := c.inst[br]
		c.inst[clone] = inst{op: instByteRange, lo: old.lo, hi: old.hi, fold: old.fold, out: old.out}
		br = clone
		if where == 0 {
			root = br
		} else {
			c.inst[root].out1 = br
		}
	}
	out := c.inst[id].out
	if !c.isCachedSuffix(id) {
		// The head is the instruction allocated last: free it.
		c.inst[id] = inst{}
		c.ninst--
	}
	out = c.addSuffixRecursive(c.inst[br].out, out)
	if out == 0 {
		return 0
	}
	c.inst[br].out = out
	return root
}

func maxRune(n int) rune {
	if n == 1 {
		return 0x7F
	}
	return 1<<(8-(n+1)+6*(n-1)) - 1
}

func (c *compiler) addRuneRange(lo, hi rune, fold bool) {
	if lo > hi {
		return
	}
	if lo == 0x80 && hi == unicode.MaxRune {
		c.add80To10FFFF()
		return
	}
	for i := 1; i < 4; i++ {
		if m := maxRune(i); lo <= m && m < hi {
			c.addRuneRange(lo, m, fold)
			c.addRuneRange(m+1, hi, fold)
			return
		}
	}
	if hi < 0x80 {
		c.addSuffix(c.uncachedSuffix(byte(lo), byte(hi), fold, 0))
		return
	}
	for i := 1; i < 4; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				c.addRuneRange(lo, lo|m, fold)
				c.addRuneRange((lo|m)+1, hi, fold)
				return
			}
			if hi&m != m {
				c.addRuneRange(lo, (hi&^m)-1, fold)
				c.addRuneRange(hi&^m, hi, fold)
				return
			}
		}
	}
	ulo, uhi := utf8(lo), utf8(hi)
	n := len(ulo)
	id := 0
	for i := n - 1; i >= 0; i-- {
		// Cache the last continuation byte and inner byte ranges, not the leading byte.
		if i == n-1 || (ulo[i] < uhi[i] && i != 0) {
			id = c.cachedSuffix(ulo[i], uhi[i], false, id)
		} else {
			id = c.uncachedSuffix(ulo[i], uhi[i], false, id)
		}
	}
	c.addSuffix(id)
}

// add80To10FFFF is RE2's shortcut for U+0080-U+10FFFF, which allows overlong encodings.
func (c *compiler) add80To10FFFF() {
	cont1 := c.uncachedSuffix(0x80, 0xBF, false, 0)
	c.addSuffix(c.uncachedSuffix(0xC2, 0xDF, false, cont1))
	cont2 := c.uncachedSuffix(0x80, 0xBF, false, cont1)
	c.addSuffix(c.uncachedSuffix(0xE0, 0xEF, false, cont2))
	cont3 := c.uncachedSuffix(0x80, 0xBF, false, cont2)
	c.addSuffix(c.uncachedSuffix(0xF0, 0xF4, false, cont3))
}

// foldsASCII reports whether a class contains each ASCII letter in both cases or neither.
func foldsASCII(ranges []rng) bool {
	in := func(r rune) bool {
		for _, x := range ranges {
			if x.lo <= r && r <= x.hi {
				return true
			}
		}
		return false
	}
	for r := 'a'; r <= 'z'; r++ {
		if in(r) != in(r-'a'+'A') {
			return false
		}
	}
	return true
}

func (c *compiler) charClass(ranges []rng) frag {
	foldascii := foldsASCII(ranges)
	c.beginRange()
	for _, r := range ranges {
		// With ASCII folding, A-Z is matched by the folded a-z.
		if foldascii && 'A' <= r.lo && r.hi <= 'Z' {
			continue
		}
		fold := foldascii
		if (r.lo <= 'A' && 'z' <= r.hi) || r.hi < 'A' || 'z' < r.lo || ('Z' < r.lo && r.hi < 'a') {
			fold = false
		}
		c.addRuneRange(r.lo, r.hi, fold)
	}
	return c.runeRange
}

// walk compiles n, children first, as RE2's Compiler::PostVisit.
func (c *compiler) walk(n *node) frag {
	if c.failed {
		return frag{}
	}
	var kids []frag
	for _, s := range n.sub {
		kids = append(kids, c.walk(s))
	}
	if c.failed {
		return frag{}
	}
	switch n.op {
	case opNoMatch:
		return frag{}
	case opEmptyMatch:
		return c.nop()
	case opConcat:
		if len(kids) == 0 {
			return c.nop()
		}
		f := kids[0]
		for _, k := range kids[1:] {
			f = c.cat(f, k)
		}
		return f
	case opAlternate:
		f := kids[0]
		for _, k := range kids[1:] {
			f = c.alt(f, k)
		}
		return f
	case opStar:
		return c.star(kids[0], n.nonGreedy)
	case opPlus:
		return c.plus(kids[0], n.nonGreedy)
	case opQuest:
		return c.quest(kids[0], n.nonGreedy)
	case opLiteral:
		return c.literal(n.runes[0], n.foldCase)
	case opLiteralString:
		if len(n.runes) == 0 {
			return c.nop()
		}
		f := c.literal(n.runes[0], n.foldCase)
		for _, r := range n.runes[1:] {
			f = c.cat(f, c.literal(r, n.foldCase))
		}
		return f
	case opAnyChar:
		c.beginRange()
		c.addRuneRange(0, unicode.MaxRune, false)
		return c.runeRange
	case opCharClass:
		return c.charClass(n.ranges)
	case opCapture:
		return c.capture(kids[0])
	case opBeginLine, opEndLine, opBeginText, opEndText, opWordBoundary, opNoWordBoundary:
		return c.emptyWidth()
	}
	c.failed = true
	return frag{}
}

// anchor removes a ^ (start) or $ (end) that every match must begin or end with, looking
// through concatenations and captures four levels deep, as RE2's IsAnchorStart/End.
func anchor(n *node, start bool, depth int) (*node, bool) {
	if depth >= 4 {
		return n, false
	}
	switch n.op {
	case opConcat:
		if len(n.sub) == 0 {
			break
		}
		i := 0
		if !start {
			i = len(n.sub) - 1
		}
		if s, ok := anchor(n.sub[i], start, depth+1); ok {
			subs := slices.Clone(n.sub)
			subs[i] = s
			if len(subs) == 1 {
				return subs[0], true
			}
			return &node{op: opConcat, sub: subs}, true
		}
	case opCapture:
		if s, ok := anchor(n.sub[0], start, depth+1); ok {
			return &node{op: opCapture, cap: n.cap, sub: []*node{s}}, true
		}
	case opBeginText:
		if start {
			return &node{op: opLiteralString}, true
		}
	case opEndText:
		if !start {
			return &node{op: opLiteralString}, true
		}
	}
	return n, false
}

// compile compiles a simplified expression and returns the size of its flattened program.
func compile(n *node, budget int) (int, error) {
	c := &compiler{budget: budget}
	tooLarge := errTooLarge
	if budget < maxInst {
		tooLarge = ErrOverBudget
	}
	c.alloc(1) // instruction 0 fails
	n, anchorStart := anchor(n, true, 0)
	n, _ = anchor(n, false, 0)
	all := c.walk(n)
	if c.failed {
		return 0, tooLarge
	}
	all = c.cat(all, c.match())
	start := all.begin
	if !anchorStart {
		all = c.cat(c.star(c.byteRange(0x00, 0xFF, false), true), all)
	}
	if c.failed {
		return 0, tooLarge
	}
	startUnanchored := all.begin
	if start == 0 && startUnanchored == 0 {
		return 1, nil // only the fail instruction
	}
	c.inst = c.inst[:c.ninst]
	c.optimize(start)
	return c.flatten(start, startUnanchored), nil
}

// optimize skips no-ops and marks the Alt of a trailing .* that matches as AltMatch, as
// RE2's Prog::Optimize, walking from start.
func (c *compiler) optimize(start int) {
	skip := func(j int) int {
		for j != 0 && c.inst[j].op == instNop {
			j = c.inst[j].out
		}
		return j
	}
	queue := []int{start}
	seen := map[int]bool{start: true}
	add := func(id int) {
		if id != 0 && !seen[id] {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	for i := 0; i < len(queue); i++ {
		in := &c.inst[queue[i]]
		in.out = skip(in.out)
		add(in.out)
		if in.op == instAlt {
			in.out1 = skip(in.out1)
			add(in.out1)
		}
	}
	isMatch := func(id int) bool {
		for {
			switch in := c.inst[id]; in.op {
			case instCapture, instNop:
				id = in.out
			case instMatch:
				return true
			default:
				return false
			}
		}
	}
	anyByteBack := func(j, id int) bool {
		in := c.inst[j]
		return in.op == instByteRange && in.out == id && in.lo == 0x00 && in.hi == 0xFF
	}
	for _, id := range queue {
		in := &c.inst[id]
		if in.op != instAlt {
			continue
		}
		if (anyByteBack(in.out, id) && isMatch(in.out1)) || (isMatch(in.out) && anyByteBack(in.out1, id)) {
			in.op = instAltMatch
		}
	}
}

// flatten counts the instructions of the program Prog::Flatten makes: a list for every root
// (the fail instruction, the starts, every target of a byte range, capture or empty-width
// instruction, and every instruction reached from outside its root's tree), holding the
// non-Alt instructions its Alt tree reaches and a Nop for each other root it reaches.
func (c *compiler) flatten(start, startUnanchored int) int {
	n := len(c.inst)
	isRoot := make([]bool, n)
	var roots []int
	mark := func(id int) {
		if !isRoot[id] {
			isRoot[id] = true
			roots = append(roots, id)
		}
	}
	mark(0)
	mark(startUnanchored)
	mark(start)
	preds := make([][]int, n)
	reached := make([]bool, n)
	stack := []int{startUnanchored}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for !reached[id] {
			reached[id] = true
			in := c.inst[id]
			switch in.op {
			case instAlt, instAltMatch:
				preds[in.out] = append(preds[in.out], id)
				preds[in.out1] = append(preds[in.out1], id)
				stack = append(stack, in.out1)
				id = in.out
				continue
			case instByteRange, instCapture, instEmptyWidth:
				mark(in.out)
				id = in.out
				continue
			case instNop:
				id = in.out
				continue
			}
			break
		}
	}
	// Walk a root's tree through Alts and Nops, stopping at other roots; seen[id] == stamp
	// marks the instructions of the current walk.
	seen := make([]int, n)
	stamp := 0
	tree := func(root int, order []int, visit func(id int, other bool)) []int {
		stamp++
		order = order[:0]
		stack := []int{root}
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for seen[id] != stamp {
				seen[id] = stamp
				order = append(order, id)
				if id != root && isRoot[id] {
					visit(id, true)
					break
				}
				in := c.inst[id]
				visit(id, false)
				if in.op == instAlt || in.op == instAltMatch {
					stack = append(stack, in.out1)
					id = in.out
					continue
				}
				if in.op == instNop {
					id = in.out
					continue
				}
				break
			}
		}
		return order
	}
	sorted := slices.Sorted(slices.Values(roots))
	var order []int
	for i := len(sorted) - 1; i > 0; i-- {
		root := sorted[i]
		if root == start || root == startUnanchored {
			continue
		}
		order = tree(root, order, func(int, bool) {})
		for _, id := range order {
			for _, p := range preds[id] {
				if seen[p] != stamp {
					mark(id)
				}
			}
		}
	}
	size := 0
	for _, root := range roots {
		order = tree(root, order, func(id int, other bool) {
			if other {
				size++ // a Nop to the other root's list
				return
			}
			switch c.inst[id].op {
			case instAltMatch, instByteRange, instCapture, instEmptyWidth, instMatch, instFail:
				size++
			}
		})
	}
	return size
}
