package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// foresightImage matches a reference to one of the images built here.
var foresightImage = regexp.MustCompile(`ghcr\.io/foresight-dev/foresight-[a-z]+(:[^\s"']+)?`)

// TestDeployPinsTheReleaseTag: no manifest under deploy/ uses :latest, and
// every kustomization whose resources run one of the images sets its tag
// with images: newTag to one release version (vMAJOR.MINOR.PATCH).
func TestDeployPinsTheReleaseTag(t *testing.T) {
	deploy := filepath.Join("..", "..", "deploy")
	releaseTag := regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	tags := map[string]string{} // newTag -> kustomization that set it
	kustomizations := 0
	err := filepath.WalkDir(deploy, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, ":latest") {
				t.Errorf("%s:%d: uses :latest: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		if d.Name() != "kustomization.yaml" {
			return nil
		}
		var k struct {
			Resources []string `yaml:"resources"`
			Images    []struct {
				Name   string `yaml:"name"`
				NewTag string `yaml:"newTag"`
			} `yaml:"images"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pinned := map[string]string{}
		for _, img := range k.Images {
			pinned[img.Name] = img.NewTag
		}
		for _, res := range k.Resources {
			body, err := os.ReadFile(filepath.Join(filepath.Dir(path), res))
			if err != nil {
				continue // a directory: its own kustomization is checked
			}
			for _, ref := range foresightImage.FindAllString(string(body), -1) {
				name, _, _ := strings.Cut(ref, ":")
				tag, ok := pinned[name]
				switch {
				case !ok:
					t.Errorf("%s: resource %s runs %s, but images: sets no newTag for it", path, res, name)
				case !releaseTag.MatchString(tag):
					t.Errorf("%s: newTag %q of %s is not a release version vX.Y.Z", path, tag, name)
				default:
					tags[tag] = path
					kustomizations++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kustomizations < 3 {
		t.Errorf("found %d pinned image references in kustomizations, want the adapter's and the xds base's and example's", kustomizations)
	}
	if len(tags) > 1 {
		t.Errorf("kustomizations pin different releases: %v", tags)
	}
}
