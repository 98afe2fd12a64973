// Package strictyaml decodes YAML configuration files strictly, with errors that name the
// file, the line and the field path of every problem:
//
//	rules.yaml:15: rules[1].forecast.quantile: must be a number, got "high"
//	policy.yaml:22: invalid YAML: did not find expected key
//
// Documents parses a file into yaml.v3 nodes, refusing invalid YAML at the line of the
// problem (SyntaxError), oversized files, and documents that aliases expand past MaxNodes or
// MaxDepth. A Decoder then walks the nodes: Decode fills a tagged Go struct after checking
// every field (unknown and duplicate fields, wrong kinds, numbers or booleans where strings
// belong), and Mapping, Sequence, String, Float, Int, Uint and Bool serve hand-written walks
// of formats whose fields do not map one to one onto Go types. Every problem is collected
// (not just the first) as an *Error in Errors, and Lines remembers each field path's line,
// so that validation after decoding can place its errors too.
//
// How many documents a file holds is the format's business: Documents returns them all,
// but the empty ones.
package strictyaml
