package server

import (
	"mime"
	"slices"
	"strings"
	"testing"
)

// TestWithoutViews drops exactly the media ranges that ask for a metadata view.
func TestWithoutViews(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   []string
	}{
		{[]string{"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"}, nil},
		{[]string{"application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}, nil},
		{[]string{"application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io, application/json;q=0.9", "*/*"}, []string{"application/json;q=0.9", "*/*"}},
		{[]string{"application/json;as=Table;v=v1;g=meta.k8s.io, application/json"}, []string{"application/json;as=Table;v=v1;g=meta.k8s.io", "application/json"}},
		{[]string{"not a media type;;, application/json"}, []string{"not a media type;;", "application/json"}},
	} {
		if got := withoutViews(tc.accept); !slices.Equal(got, tc.want) {
			t.Errorf("withoutViews(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
}

// FuzzWithoutViews: any Accept header is handled; what is kept is a subset of its ranges, in
// order, and none of them asks for a metadata view.
func FuzzWithoutViews(f *testing.F) {
	f.Add("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, application/json")
	f.Add("*/*")
	f.Fuzz(func(t *testing.T, accept string) {
		kept := withoutViews([]string{accept})
		var all []string
		for part := range strings.SplitSeq(accept, ",") {
			if part = strings.TrimSpace(part); part != "" {
				all = append(all, part)
			}
		}
		i := 0
		for _, k := range kept {
			for i < len(all) && all[i] != k {
				i++
			}
			if i == len(all) {
				t.Fatalf("kept %q is not a range of %q, in order", k, accept)
			}
			if _, params, err := mime.ParseMediaType(k); err == nil && metadataViews[params["as"]] {
				t.Fatalf("kept %q, a metadata view", k)
			}
		}
	})
}
