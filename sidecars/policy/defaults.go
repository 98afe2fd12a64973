package policy

import "time"

// Defaults that SetDefaults fills in.
const (
	DefaultNamespace        = "default"
	DefaultConnectTimeout   = 5 * time.Second
	DefaultBackoffBase      = 25 * time.Millisecond
	DefaultFillInterval     = time.Second
	DefaultJWKSTimeout      = 5 * time.Second
	DefaultJWKSCache        = 5 * time.Minute
	DefaultSamplingPercent  = 1.0
	DefaultOutlierInterval  = 10 * time.Second
	DefaultOutlierEjection  = 30 * time.Second
	DefaultMaxEjectionPct   = 10
	DefaultRedirectCode     = 301
	DefaultRetryCount       = 1
	DefaultAccessLogOutput  = "stdout"
	defaultSuccessRateHosts = 5
	defaultSuccessRateVol   = 100
	defaultSuccessRateStdev = 1900
	defaultFailurePctThresh = 85
	defaultFailurePctHosts  = 5
	defaultFailurePctVol    = 50
)

// DefaultRetryOn returns the retry conditions of a retry policy that names none.
func DefaultRetryOn() []string { return []string{"connect-failure", "refused-stream", "unavailable"} }

// SetDefaults fills in every defaulted field (see the field docs). It is idempotent; Parse calls
// it, and code that builds a Policy by hand should call it before Validate.
func (p *Policy) SetDefaults() {
	if p.Metadata.Namespace == "" {
		p.Metadata.Namespace = DefaultNamespace
	}
	s := &p.Spec
	for i := range s.Services {
		svc := &s.Services[i]
		if svc.Namespace == "" {
			svc.Namespace = p.Metadata.Namespace
		}
		if svc.AppPort == 0 {
			svc.AppPort = svc.Port
		}
		if svc.Protocol == "" {
			svc.Protocol = ProtocolHTTP1
		}
		if svc.Discovery == "" {
			svc.Discovery = DiscoveryStatic
		}
		if t := svc.TLS; t != nil {
			if t.SNI == "" {
				t.SNI = svc.Name
				if len(svc.Hosts) > 0 {
					t.SNI = svc.Hosts[0]
				}
			}
			if t.CAFile == "" && len(t.CACertificates) == 0 {
				t.CAFile = DefaultCAFile
			}
		}
		if svc.ConnectTimeout == 0 {
			svc.ConnectTimeout = Duration(DefaultConnectTimeout)
		}
		for j := range svc.Endpoints {
			e := &svc.Endpoints[j]
			if e.Port == 0 {
				e.Port = svc.Port
			}
			if e.Weight == 0 {
				e.Weight = 1
			}
		}
		defaultRetries(svc.Retries)
		defaultOutlier(svc.OutlierDetection)
		defaultRateLimit(svc.RateLimit)
		defaultRoutes(svc.Routes, svc.Name)
	}
	for i := range s.VirtualHosts {
		vh := &s.VirtualHosts[i]
		defaultRateLimit(vh.RateLimit)
		defaultRoutes(vh.Routes, "")
	}
	if len(s.NodeGroups) == 0 {
		for _, svc := range s.Services {
			s.NodeGroups = append(s.NodeGroups, NodeGroup{Name: svc.Name, Kind: NodeSidecar, Services: []string{svc.Name}})
		}
	}
	for i := range s.NodeGroups {
		g := &s.NodeGroups[i]
		if g.Kind == "" {
			g.Kind = NodeSidecar
		}
		switch g.Kind {
		case NodeSidecar:
			if g.InboundPort == 0 {
				g.InboundPort = DefaultInboundPort
			}
			if g.OutboundPort == 0 {
				g.OutboundPort = DefaultOutboundPort
			}
		case NodeGateway:
			// The single-listener form (port, virtualHosts) becomes the one listener.
			if len(g.Listeners) == 0 && !g.NoListeners {
				port := g.Port
				if port == 0 {
					port = DefaultGatewayPort
				}
				g.Listeners = []GatewayListener{{Port: port, VirtualHosts: g.VirtualHosts}}
				g.Port, g.VirtualHosts = 0, nil
			}
			for j := range g.Listeners {
				for k := range g.Listeners[j].Connections {
					defaultWeight(g.Listeners[j].Connections[k].Backends)
				}
			}
		}
	}
	if a := s.Authentication; a != nil {
		for i := range a.JWTProviders {
			j := &a.JWTProviders[i].JWKS
			if j.URI != "" {
				if j.Timeout == 0 {
					j.Timeout = Duration(DefaultJWKSTimeout)
				}
				if j.CacheDuration == 0 {
					j.CacheDuration = Duration(DefaultJWKSCache)
				}
			}
		}
	}
	if t := s.Tracing; t != nil && t.SamplingPercent == nil {
		v := DefaultSamplingPercent
		t.SamplingPercent = &v
	}
	if a := s.AccessLog; a != nil && a.Output == "" {
		a.Output = DefaultAccessLogOutput
	}
}

// defaultWeight gives a single backend that names no weight the weight 100.
func defaultWeight(bs []Backend) {
	if len(bs) == 1 && bs[0].Weight == 0 {
		bs[0].Weight = 100
	}
}

func defaultRoutes(routes []Route, owner string) {
	for i := range routes {
		r := &routes[i]
		if r.Match.Prefix == "" && r.Match.Exact == "" && r.Match.Regex == "" && r.Match.SegmentPrefix == "" {
			r.Match.Prefix = "/"
		}
		if owner != "" && len(r.Backends) == 0 && r.Redirect == nil && r.DirectResponse == nil {
			r.Backends = []Backend{{Service: owner, Weight: 100}}
		}
		defaultWeight(r.Backends)
		if r.Redirect != nil && r.Redirect.Code == 0 {
			r.Redirect.Code = DefaultRedirectCode
		}
		defaultRetries(r.Retries)
		defaultRateLimit(r.RateLimit)
	}
}

func defaultRetries(r *Retries) {
	if r == nil {
		return
	}
	if len(r.On) == 0 {
		r.On = DefaultRetryOn()
	}
	if r.Count == 0 {
		r.Count = DefaultRetryCount
	}
	if b := r.Backoff; b != nil {
		if b.Base == 0 {
			b.Base = Duration(DefaultBackoffBase)
		}
		if b.Max == 0 {
			b.Max = 10 * b.Base
		}
	}
}

func defaultOutlier(o *OutlierDetection) {
	if o == nil {
		return
	}
	if o.Interval == 0 {
		o.Interval = Duration(DefaultOutlierInterval)
	}
	if o.BaseEjectionTime == 0 {
		o.BaseEjectionTime = Duration(DefaultOutlierEjection)
	}
	if o.MaxEjectionPercent == 0 {
		o.MaxEjectionPercent = DefaultMaxEjectionPct
	}
	if s := o.SuccessRate; s != nil {
		if s.MinimumHosts == 0 {
			s.MinimumHosts = defaultSuccessRateHosts
		}
		if s.RequestVolume == 0 {
			s.RequestVolume = defaultSuccessRateVol
		}
		if s.StdevFactor == 0 {
			s.StdevFactor = defaultSuccessRateStdev
		}
	}
	if f := o.FailurePercentage; f != nil {
		if f.Threshold == 0 {
			f.Threshold = defaultFailurePctThresh
		}
		if f.MinimumHosts == 0 {
			f.MinimumHosts = defaultFailurePctHosts
		}
		if f.RequestVolume == 0 {
			f.RequestVolume = defaultFailurePctVol
		}
	}
}

func defaultRateLimit(r *RateLimit) {
	if r == nil {
		return
	}
	if r.TokensPerFill == 0 {
		r.TokensPerFill = r.MaxTokens
	}
	if r.FillInterval == 0 {
		r.FillInterval = Duration(DefaultFillInterval)
	}
}
