package strictyaml_test

import (
	"fmt"

	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// Queue is a format built on the package: tagged Go structs, one document per file.
type Queue struct {
	Name     string   `yaml:"name"`
	Capacity int      `yaml:"capacity"`
	Labels   []string `yaml:"labels"`
}

// ParseQueue decodes one queue strictly, then validates it, placing every error.
func ParseQueue(data []byte, file string) (*Queue, error) {
	docs, err := strictyaml.Documents(data, file)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, strictyaml.Errors{{File: file, Msg: "a queue file holds exactly one document"}}
	}
	d := strictyaml.NewDecoder(file)
	var q Queue
	if d.Decode(docs[0], "", &q) && q.Capacity <= 0 {
		d.Errs = append(d.Errs, &strictyaml.Error{File: file, Line: d.Lines.Line("capacity"), Path: "capacity", Msg: "must be > 0"})
	}
	if err := d.Errs.Err(); err != nil {
		return nil, err
	}
	return &q, nil
}

func Example() {
	_, err := ParseQueue([]byte("name: orders\ncapacity: 10\nlabel: [a]\n"), "queue.yaml")
	fmt.Println(err)
	_, err = ParseQueue([]byte("name: 42\ncapacity: 0\n"), "queue.yaml")
	fmt.Println(err)
	_, err = ParseQueue([]byte("name: orders\ncapacity: 0\n"), "queue.yaml")
	fmt.Println(err)
	_, err = ParseQueue([]byte("name: orders\nlabels:\n  - a\n - b\n"), "queue.yaml")
	fmt.Println(err)
	q, err := ParseQueue([]byte("name: orders\ncapacity: 10\nlabels: [a, b]\n"), "queue.yaml")
	fmt.Println(q.Name, q.Capacity, q.Labels, err)
	// Output:
	// queue.yaml:3: label: unknown field (known: capacity, labels, name)
	// queue.yaml:1: name: must be a string, got integer "42" (quote it)
	// queue.yaml:2: capacity: must be > 0
	// queue.yaml:4: invalid YAML: did not find expected key
	// orders 10 [a b] <nil>
}
