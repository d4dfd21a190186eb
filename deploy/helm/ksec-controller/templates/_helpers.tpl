{{/*
Names are derived from "sealed-secrets", the name of Bitnami's chart, and not from this
chart's name: a release installed with Bitnami's chart keeps its Deployment selector
(immutable) and its Service name when it is upgraded to this chart.
*/}}
{{- define "ksec-controller.name" -}}
{{- default "sealed-secrets" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full name: fullnameOverride, else the release name when it already contains the name,
else RELEASE-NAME; 63 characters at most (DNS label).
*/}}
{{- define "ksec-controller.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "sealed-secrets" .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ksec-controller.namespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{- define "ksec-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ksec-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ksec-controller.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "ksec-controller.labels" -}}
app.kubernetes.io/name: {{ include "ksec-controller.name" . }}
helm.sh/chart: {{ include "ksec-controller.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: sealed-secrets
{{- end -}}

{{/* The selector labels: Bitnami's, unchanged (a Deployment's selector is immutable). */}}
{{- define "ksec-controller.matchLabels" -}}
app.kubernetes.io/name: {{ include "ksec-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels for an object: the common ones, then `extra` (a map or a string, templates
allowed), then commonLabels. Usage: include "ksec-controller.objectLabels" (dict "extra" X "context" $)
*/}}
{{- define "ksec-controller.objectLabels" -}}
{{ include "ksec-controller.labels" .context }}
{{- if .extra }}
{{ include "ksec-controller.render" (dict "value" .extra "context" .context) }}
{{- end }}
{{- if .context.Values.commonLabels }}
{{ include "ksec-controller.render" (dict "value" .context.Values.commonLabels "context" .context) }}
{{- end }}
{{- end -}}

{{/*
"annotations:" with `extra` (a map or a string, templates allowed), then commonAnnotations,
indented by `indent` (default 2) on a new line; nothing when there are none.
Usage: include "ksec-controller.annotations" (dict "extra" X "context" $)
*/}}
{{- define "ksec-controller.annotations" -}}
{{- $parts := list -}}
{{- if .extra -}}
{{- $parts = append $parts (include "ksec-controller.render" (dict "value" .extra "context" .context)) -}}
{{- end -}}
{{- if .context.Values.commonAnnotations -}}
{{- $parts = append $parts (include "ksec-controller.render" (dict "value" .context.Values.commonAnnotations "context" .context)) -}}
{{- end -}}
{{- if $parts -}}
{{- printf "annotations:\n%s" (join "\n" $parts | indent 2) | nindent (.indent | default 2 | int) -}}
{{- end -}}
{{- end -}}

{{/* A value that may hold templates (a string, or anything rendered as YAML first). */}}
{{- define "ksec-controller.render" -}}
{{- if typeIs "string" .value -}}
{{- tpl .value .context -}}
{{- else -}}
{{- tpl (.value | toYaml) .context -}}
{{- end -}}
{{- end -}}

{{- define "ksec-controller.kubeVersion" -}}
{{- if and .Values.global .Values.global.kubeVersion -}}
{{- .Values.global.kubeVersion -}}
{{- else -}}
{{- default .Capabilities.KubeVersion.Version .Values.kubeVersion -}}
{{- end -}}
{{- end -}}

{{/* The image; Bitnami's controller image is refused, it cannot run ksec's command. */}}
{{- define "ksec-controller.image" -}}
{{- if contains "sealed-secrets-controller" .Values.image.repository -}}
{{- fail (printf "image.repository %q is Bitnami's controller image, which cannot run this chart's controller: remove image.repository from your values (ksec's default is ghcr.io/ksec-dev/ksec) or point it at a mirror of ksec's image" .Values.image.repository) -}}
{{- end -}}
{{- $tag := default .Chart.AppVersion (toString .Values.image.tag) -}}
{{- if .Values.image.registry -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
"k1=v1,k2=v2" from a map of strings, for --privatekey-labels and --privatekey-annotations.
Usage: include "ksec-controller.keyValues" (dict "map" X "what" "privateKeyLabels")
*/}}
{{- define "ksec-controller.keyValues" -}}
{{- $pairs := list -}}
{{- range $k, $v := .map -}}
{{- if not (and $v (kindIs "string" $v)) -}}
{{- fail (printf "%s.%s: the value must be a non-empty string (quote it)" $.what $k) -}}
{{- end -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* Refuses values whose feature this chart does not offer, instead of ignoring them. */}}
{{- define "ksec-controller.checkValues" -}}
{{- if .Values.rbac.pspEnabled -}}
{{- fail "rbac.pspEnabled: PodSecurityPolicy was removed in Kubernetes 1.25 and this chart does not create one; set it to false (the default security contexts meet the restricted Pod Security Standard)" -}}
{{- end -}}
{{- if .Values.metrics.dashboards.create -}}
{{- fail "metrics.dashboards.create: this chart does not ship Grafana dashboards; set it to false and import Bitnami's sealed-secrets dashboard JSON, which works unchanged (ksec's metrics have Bitnami's names)" -}}
{{- end -}}
{{- if and .Values.rbac.namespacedRoles .Values.rbac.clusterRole .Values.rbac.create -}}
{{- fail "rbac.namespacedRoles needs rbac.clusterRole: false (as in Bitnami's chart, namespaced Roles replace the ClusterRole)" -}}
{{- end -}}
{{- end -}}

{{/* What the controller does with SealedSecrets and the Secrets they describe. */}}
{{- define "ksec-controller.unsealerRules" -}}
- apiGroups: ["bitnami.com"]
  resources: ["sealedsecrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["bitnami.com"]
  resources: ["sealedsecrets/status"]
  verbs: ["update", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* The namespaces of namespaced Roles: the controller's own, then additionalNamespaces. */}}
{{- define "ksec-controller.managedNamespaces" -}}
{{- $all := list (include "ksec-controller.namespace" .) -}}
{{- range .Values.additionalNamespaces -}}
{{- $all = append $all . -}}
{{- end -}}
{{- $all | uniq | toJson -}}
{{- end -}}
