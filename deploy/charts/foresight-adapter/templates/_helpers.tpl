{{/* The chart's name. */}}
{{- define "foresight-adapter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's objects. */}}
{{- define "foresight-adapter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the adapter's pods. */}}
{{- define "foresight-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "foresight-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "foresight-adapter.labels" -}}
{{ include "foresight-adapter.selectorLabels" . }}
app.kubernetes.io/part-of: foresight
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "foresight-adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "foresight-adapter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The container image: repository with the digest, or the tag (default: appVersion). */}}
{{- define "foresight-adapter.image" -}}
{{- if eq .Values.image.tag "latest" -}}
{{- fail "image.tag: latest is refused, it names no release; leave it empty for the chart's appVersion or name a release tag" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The serving certificate's Secret. */}}
{{- define "foresight-adapter.servingSecret" -}}
{{- printf "%s-serving-cert" (include "foresight-adapter.fullname" .) -}}
{{- end -}}

{{/* The DNS name the aggregator verifies: <service>.<namespace>.svc. */}}
{{- define "foresight-adapter.serviceDNS" -}}
{{- printf "%s.%s.svc" (include "foresight-adapter.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
The self-signed CA and serving certificate (tls.mode selfSigned), generated once per
render: the Secret and the APIServices' caBundle must come from the same pair. An
existing Secret with the three keys is reused, so an upgrade keeps the certificate, while
it was generated for the current selfSignedValidityDays and a third of its validity is
left (its annotations say so); else an upgrade generates a new pair.
*/}}
{{- define "foresight-adapter.selfSignedPair" -}}
{{- $days := int .Values.tls.selfSignedValidityDays -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "foresight-adapter.servingSecret" .) -}}
{{- $data := dict -}}
{{- $notes := dict -}}
{{- if $secret -}}
{{- $data = $secret.data | default dict -}}
{{- $notes = $secret.metadata.annotations | default dict -}}
{{- end -}}
{{- $now := now | unixEpoch | int64 -}}
{{- $fresh := and (eq (index $notes "foresight.dev/validity-days" | default "") (toString $days)) (gt (index $notes "foresight.dev/renew-after" | default "0" | int64) $now) -}}
{{- if and $fresh (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- dict "ca" (index $data "ca.crt") "crt" (index $data "tls.crt") "key" (index $data "tls.key") "days" (toString $days) "renewAfter" (index $notes "foresight.dev/renew-after") | toJson -}}
{{- else -}}
{{- $ca := genCA (printf "%s-ca" (include "foresight-adapter.fullname" .)) $days -}}
{{- $dns := include "foresight-adapter.serviceDNS" . -}}
{{- $cert := genSignedCert $dns nil (list $dns (printf "%s.cluster.local" $dns)) $days $ca -}}
{{- $renewAfter := add $now (div (mul $days 86400 2) 3) -}}
{{- dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) "days" (toString $days) "renewAfter" (toString $renewAfter) | toJson -}}
{{- end -}}
{{- end -}}

{{/*
The files the adapter reads to connect to Prometheus, as JSON: the tls values, or the
files of the mounted tls.caConfigMap (ca.crt) and tls.secret (tls.crt, tls.key).
*/}}
{{- define "foresight-adapter.prometheusFiles" -}}
{{- $tls := .Values.prometheus.tls -}}
{{- $ca := $tls.caFile -}}
{{- if and (not $ca) $tls.caConfigMap }}{{ $ca = "/var/run/prometheus-ca/ca.crt" }}{{ end -}}
{{- $cert := $tls.certFile -}}
{{- if and (not $cert) $tls.secret }}{{ $cert = "/var/run/prometheus-tls/tls.crt" }}{{ end -}}
{{- $key := $tls.keyFile -}}
{{- if and (not $key) $tls.secret }}{{ $key = "/var/run/prometheus-tls/tls.key" }}{{ end -}}
{{- if ne (empty $cert) (empty $key) -}}
{{- fail "prometheus.tls: certFile and keyFile go together (mutual TLS needs both); or set prometheus.tls.secret to a kubernetes.io/tls Secret" -}}
{{- end -}}
{{- if and (or $ca $cert $tls.serverName $tls.insecureSkipVerify) (not (hasPrefix "https://" .Values.prometheus.url)) -}}
{{- fail (printf "prometheus.tls is set but prometheus.url %s is not https://" .Values.prometheus.url) -}}
{{- end -}}
{{- dict "ca" $ca "cert" $cert "key" $key | toJson -}}
{{- end -}}
