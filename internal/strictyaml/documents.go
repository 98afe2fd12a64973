package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Limits on one file. A hostile file is refused before any value is decoded from it.
const (
	// MaxBytes is the largest file Documents reads.
	MaxBytes = 16 << 20
	// MaxNodes bounds the nodes of one document counted with every alias expanded, so that
	// a small file of nested aliases ("billion laughs") cannot expand into a huge value.
	MaxNodes = 1 << 20
	// MaxDepth bounds the nesting of one document (aliases expanded).
	MaxDepth = 100
)

// Documents parses every document of a YAML stream into nodes (of kind
// yaml.DocumentNode). Empty documents (nothing or null between two "---", a
// trailing "---") are left out, so that a file of one document and a stray
// separator holds one document, as yaml.v2's Unmarshal reads it. It refuses, as Errors with one
// *Error naming file and line, a file larger than MaxBytes, invalid YAML (at the line of
// the problem, see SyntaxError) and a document larger than MaxNodes or deeper than
// MaxDepth once its aliases are expanded. An empty file has no documents.
func Documents(data []byte, file string) ([]*yaml.Node, error) {
	if len(data) > MaxBytes {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("file is %d bytes, more than the limit of %d", len(data), MaxBytes)}}
	}
	docs, err := parse(bytes.NewReader(data))
	if err != nil {
		return nil, Errors{SyntaxError(file, data, err)}
	}
	memo := map[*yaml.Node]extent{}
	for _, doc := range docs {
		e := measure(doc, 1, memo)
		if e.size > MaxNodes {
			return nil, Errors{{File: file, Line: doc.Line, Msg: fmt.Sprintf("document too large (more than %d nodes after alias expansion)", MaxNodes)}}
		}
		if e.depth > MaxDepth {
			return nil, Errors{{File: file, Line: doc.Line, Msg: fmt.Sprintf("document nested too deeply (more than %d levels after alias expansion)", MaxDepth)}}
		}
	}
	return docs, nil
}

// parse reads every document of r but the empty ones (IsNull).
func parse(r io.Reader) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(r)
	var docs []*yaml.Node
	for {
		doc := new(yaml.Node)
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if !IsNull(doc) {
			docs = append(docs, doc)
		}
	}
}

// extent is the size and depth of a node with its aliases expanded.
type extent struct{ size, depth int }

// measure returns n's extent, computed without expanding aliases (each anchored node is
// measured once) and capped just above the limits; a node that holds itself through an
// alias is over both. level is n's depth in the document.
func measure(n *yaml.Node, level int, memo map[*yaml.Node]extent) extent {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return extent{1, 1}
		}
		n = n.Alias
	}
	if e, ok := memo[n]; ok {
		return e
	}
	if level > MaxDepth {
		return extent{1, MaxDepth + 1}
	}
	memo[n] = extent{MaxNodes + 1, MaxDepth + 1} // while in progress: an alias to n from inside n is a cycle
	e := extent{size: 1}
	for _, c := range n.Content {
		ce := measure(c, level+1, memo)
		e.size = min(e.size+ce.size, MaxNodes+1)
		e.depth = max(e.depth, ce.depth)
		if e.size > MaxNodes || e.depth > MaxDepth {
			break
		}
	}
	e.depth = min(e.depth+1, MaxDepth+1)
	memo[n] = e
	return e
}

// yamlMessage splits a yaml.v3 error into the line it names (0 when none) and the rest.
var yamlMessage = regexp.MustCompile(`^(?s)(?:yaml: )?(?:line (\d+): )?(.*)$`)

// SyntaxError turns a yaml.v3 parse error of data into an *Error at the line where the
// problem is. yaml.v3 names the line where the enclosing block starts ("line 4: did not find
// expected key" for a bad indentation on line 22 of a mapping that starts on line 4); the
// line reported here is the line of the last byte the parser had to read to fail that way.
func SyntaxError(file string, data []byte, err error) *Error {
	line, msg := 0, err.Error()
	if m := yamlMessage.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if l := problemLine(data, err); l > line {
		line = l
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// problemLine finds the shortest prefix of data that the parser refuses with the same
// error as data, and returns the line of its last byte (0 when the error does not come
// from parsing data).
//
// The parser reads its input as it goes: reading data in small chunks shows how far it read
// before it failed, and any prefix at least that long fails the same way. Shorter prefixes
// are tried by galloping down and then bisecting, a few dozen parses of at most that length.
func problemLine(data []byte, err error) int {
	want := err.Error()
	r := &countingReader{data: data}
	if _, e := parse(r); e == nil || e.Error() != want {
		return 0
	}
	same := func(m int) bool {
		_, e := parse(bytes.NewReader(data[:m]))
		return e != nil && e.Error() == want
	}
	hi, lo := r.off, r.off // same(hi) holds; lo < hi will be a prefix that does not fail so
	for step := 1; lo > 0; step *= 2 {
		lo = max(hi-step, 0)
		if !same(lo) {
			break
		}
		hi = lo
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if same(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if hi == 0 {
		return 0
	}
	return lineOf(data, hi-1)
}

// lineOf returns the 1-based line of data[off], counting line breaks as YAML does: "\r\n",
// "\r", "\n", and NEL, LS and PS.
func lineOf(data []byte, off int) int {
	line := 1
	for i := 0; i < off; i++ {
		switch {
		case data[i] == '\n':
			line++
		case data[i] == '\r' && (i+1 >= len(data) || data[i+1] != '\n'):
			line++
		case data[i] == 0xc2 && i+1 < off && data[i+1] == 0x85:
			line++
		case data[i] == 0xe2 && i+2 < off && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9):
			line++
		}
	}
	return line
}

// countingReader reads data in small chunks and counts what was read.
type countingReader struct {
	data []byte
	off  int
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 16)], r.data[r.off:])
	r.off += n
	return n, nil
}
