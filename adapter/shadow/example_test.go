package shadow_test

import (
	"fmt"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/shadow"
)

// Two reactive strategies at different HPA targets on a load that doubles
// after an hour: the hotter one runs half the pods and is under-provisioned
// for the one minute before the HPA sees the step. Over the 120 simulated
// minutes, 61 run the pods of the low load and 59 those of the high load:
// 61*8 + 59*16 = 1432 and 61*4 + 59*8 = 716 pod-minutes.
func ExampleEvaluator() {
	ev, err := shadow.NewEvaluator(shadow.Config{
		Capacity: 10, // load one pod serves
		HPA:      hpa.Config{MaxReplicas: 100, SyncPeriod: time.Minute},
		Step:     time.Minute,
		Windows:  []time.Duration{time.Hour, 2 * time.Hour},
	}, []shadow.Strategy{
		{Name: "reactive@0.5", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 0.5},
		{Name: "reactive@1", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 1},
	})
	if err != nil {
		panic(err)
	}
	start := int64(1_800_000_000)
	for i := range 121 {
		load := 40.0
		if i > 60 {
			load = 80
		}
		if err := ev.Observe(start+int64(i)*60, load); err != nil {
			panic(err)
		}
	}
	for _, s := range ev.Summary().Strategies {
		w := s.Windows[1]
		fmt.Printf("%s: %d replicas now; last %s: %.0f pod-minutes, %.0f under-provisioned minutes, %d scaling actions\n",
			s.Name, s.Replicas, w.Window, w.PodMinutes, w.UnderProvisionedMinutes, w.ScalingActions)
	}
	// Output:
	// reactive@0.5: 16 replicas now; last 2h: 1432 pod-minutes, 0 under-provisioned minutes, 1 scaling actions
	// reactive@1: 8 replicas now; last 2h: 716 pod-minutes, 1 under-provisioned minutes, 1 scaling actions
}
