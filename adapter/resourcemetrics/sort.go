package resourcemetrics

import (
	"cmp"
	"slices"
)

func sortContainers(cs []Container) {
	slices.SortFunc(cs, func(a, b Container) int { return cmp.Compare(a.Name, b.Name) })
}
