package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapiserver "k8s.io/apiserver/pkg/server"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	utilflowcontrol "k8s.io/apiserver/pkg/util/flowcontrol"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
)

// blockingLister answers an empty list; while hold is set, only once
// release is closed, after telling entered.
type blockingLister struct {
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (l *blockingLister) AppendExternalMetricList(dst []byte, _, _, _ string) ([]byte, error) {
	if l.hold.CompareAndSwap(true, false) {
		l.entered <- struct{}{}
		<-l.release
	}
	return append(dst, `{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[]}`...), nil
}

func (l *blockingLister) AppendExternalMetricListProtobuf(dst []byte, ns, metric, sel string) ([]byte, error) {
	return l.AppendExternalMetricList(dst, ns, metric, sel)
}

// limitsTestConfig is a server configuration authenticating every request
// as anonymous and allowing everything, with one request in flight at most; deadlines
// records the deadline of every authorization's context.
func limitsTestConfig(deadlines chan<- time.Duration) *genericapiserver.Config {
	c := genericapiserver.NewConfig(apiserver.Codecs)
	c.FeatureGate = utilfeature.DefaultFeatureGate
	c.RequestInfoResolver = genericapiserver.NewRequestInfoResolver(c)
	c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight = 1, 1
	c.Authentication.Authenticator = anonymous.NewAuthenticator(nil)
	c.Authorization.Authorizer = authorizer.AuthorizerFunc(func(ctx context.Context, _ authorizer.Attributes) (authorizer.Decision, string, error) {
		if deadlines != nil {
			d, ok := ctx.Deadline()
			if !ok {
				deadlines <- -1
			} else {
				deadlines <- time.Until(d)
			}
		}
		return authorizer.DecisionAllow, "", nil
	})
	return c
}

// The lean chain gives the request the deadline the library's chain gives
// it (--request-timeout), which bounds the authentication and authorization
// webhooks' calls.
func TestLeanChainSetsRequestDeadline(t *testing.T) {
	deadlines := make(chan time.Duration, 1)
	c := limitsTestConfig(deadlines)
	c.RequestTimeout = 42 * time.Second
	lister := &blockingLister{}
	h := buildHandlerChain(lister, nil)(http.NotFoundHandler(), c)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, externalPrefix+"default/m", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("fast-path request answered %d: %s", w.Code, w.Body)
	}
	if d := <-deadlines; d <= 0 || d > c.RequestTimeout {
		t.Fatalf("authorization ran with %v left before the deadline, want at most %v", d, c.RequestTimeout)
	}
}

// The fast path and the library's chain share one in-flight pool of
// --max-requests-inflight requests: with one request in flight on either,
// the other answers 429.
func TestOneInFlightPoolForBothChains(t *testing.T) {
	c := limitsTestConfig(nil)
	lister := &blockingLister{entered: make(chan struct{}, 1), release: make(chan struct{})}
	var apiHold atomic.Bool
	apiEntered, apiRelease := make(chan struct{}, 1), make(chan struct{})
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if apiHold.CompareAndSwap(true, false) {
			apiEntered <- struct{}{}
			<-apiRelease
		}
		w.WriteHeader(http.StatusOK)
	})
	h := buildHandlerChain(lister, nil)(api, c)
	fast := func() *http.Request { return httptest.NewRequest(http.MethodGet, externalPrefix+"default/m", nil) }
	full := func() *http.Request {
		return httptest.NewRequest(http.MethodGet, "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/m", nil)
	}
	serve := func(r *http.Request) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		name           string
		hold, other    func() *http.Request
		holding        *atomic.Bool
		entered        chan struct{}
		release        func()
		holdingAnswers int
	}{
		{"library chain holds the seat", full, fast, &apiHold, apiEntered, func() { close(apiRelease) }, http.StatusOK},
		{"fast path holds the seat", fast, full, &lister.hold, lister.entered, func() { close(lister.release) }, http.StatusOK},
	} {
		tc.holding.Store(true)
		var wg sync.WaitGroup
		var held int
		wg.Go(func() { held = serve(tc.hold()) })
		<-tc.entered
		code := serve(tc.other())
		tc.release()
		wg.Wait()
		if code != http.StatusTooManyRequests {
			t.Errorf("%s: the other chain answered %d, want 429", tc.name, code)
		}
		if held != tc.holdingAnswers {
			t.Errorf("%s: the holding request answered %d", tc.name, held)
		}
	}
}

// With API Priority and Fairness on, the lean chain's requests are
// classified and dispatched by the same controller as the library chain's,
// which names the flow schema in the answer.
func TestLeanChainUsesPriorityAndFairness(t *testing.T) {
	client := fake.NewClientset()
	informers := kubeinformers.NewSharedInformerFactory(client, 0)
	c := limitsTestConfig(nil)
	c.FlowControl = utilflowcontrol.New(informers, client.FlowcontrolV1(), 10)
	stop := make(chan struct{})
	defer close(stop)
	informers.Start(stop)
	go func() { _ = c.FlowControl.Run(stop) }()
	h := buildHandlerChain(&blockingLister{}, nil)(http.NotFoundHandler(), c)
	classified := func(path string) bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		_, ok := w.Header()[http.CanonicalHeaderKey(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID)]
		return ok
	}
	deadline := time.Now().Add(30 * time.Second)
	for !classified("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/m") { // the library's chain
		if time.Now().After(deadline) {
			t.Fatal("the priority-and-fairness controller never classified a request of the library's chain")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !classified(externalPrefix + "default/m") {
		t.Fatal("a fast-path request was not classified by the priority-and-fairness controller")
	}
}
