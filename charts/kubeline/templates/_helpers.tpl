{{- define "kubeline.labels" -}}
app.kubernetes.io/name: kubeline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kubeline.selector" -}}
app.kubernetes.io/name: kubeline
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubeline.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What the operator may do wherever it serves Runs. */}}
{{- define "kubeline.rules" -}}
- apiGroups: [kubeline.dev]
  resources: [runs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [kubeline.dev]
  resources: [runs/status]
  verbs: [get, patch, update]
- apiGroups: [kubeline.dev]
  resources: [recurringruns]
  verbs: [get, list, watch, patch]
- apiGroups: [kubeline.dev]
  resources: [recurringruns/status]
  verbs: [get, patch, update]
- apiGroups: [kubeline.dev]
  resources: [pipelines]
  verbs: [get, list, watch]
- apiGroups: [kubeline.dev]
  resources: [queues]
  verbs: [get, list, watch]
- apiGroups: [kubeline.dev]
  resources: [queues/status]
  verbs: [patch]  # running and waiting Runs, in order
- apiGroups: [kubeline.dev]
  resources: [runrecords]
  verbs: [get, create, update]  # finished steps of large Runs, owned by them
- apiGroups: [kubeline.dev]
  resources: [cacheentries]
  verbs: [get, create]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [create]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* The web UI's own names and pod labels: apart from the operator's, so that no operator selector takes its pods. */}}
{{- define "kubeline.ui.fullname" -}}
{{- printf "%s-ui" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubeline.ui.selector" -}}
app.kubernetes.io/name: kubeline-ui
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
