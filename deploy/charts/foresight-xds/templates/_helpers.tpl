{{/* The chart's name. */}}
{{- define "foresight-xds.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's objects. */}}
{{- define "foresight-xds.fullname" -}}
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
{{- define "foresight-xds.selectorLabels" -}}
app.kubernetes.io/name: {{ include "foresight-xds.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "foresight-xds.labels" -}}
{{ include "foresight-xds.selectorLabels" . }}
app.kubernetes.io/part-of: foresight
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "foresight-xds.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "foresight-xds.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The container image: repository with the digest, or the tag (default: appVersion). */}}
{{- define "foresight-xds.image" -}}
{{- if eq .Values.image.tag "latest" -}}
{{- fail "image.tag: latest is refused, it names no release; leave it empty for the chart's appVersion or name a release tag" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The Prometheus CA, client certificate and key files, as JSON: the explicit files, else those
of the mounted ConfigMap and Secret. The same rules as the adapter chart's prometheusFiles.
*/}}
{{- define "foresight-xds.prometheusFiles" -}}
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
