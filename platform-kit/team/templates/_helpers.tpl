{{/* The team's name, required: everything this chart makes is named after it. */}}
{{- define "team.name" -}}
{{- required "set name: the team (it names its namespace and Argo CD project)" .Values.name -}}
{{- end -}}

{{/* The group whose members are the team. */}}
{{- define "team.group" -}}
{{- default (include "team.name" .) .Values.group -}}
{{- end -}}

{{/* On everything: kplat finds a team's objects by kplat.dev/team. */}}
{{- define "team.labels" -}}
kplat.dev/team: {{ include "team.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The subject of every binding: the team's group. */}}
{{- define "team.subjects" -}}
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: {{ include "team.group" . }}
{{- end -}}

{{/* The project's sourceRepos, required: an empty list would deploy nothing, `*` anything. */}}
{{- define "team.repos" -}}
{{- if not .Values.repos -}}
{{- fail "set repos: the Argo CD sourceRepos globs of the team's repositories, e.g. --set 'repos={https://github.example/acme/*}'" -}}
{{- end -}}
{{- toYaml .Values.repos -}}
{{- end -}}
