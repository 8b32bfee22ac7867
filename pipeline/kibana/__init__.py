"""Kibana saved objects: the shipped NDJSON, its checks, and Kibana's saved-objects import/export API.

Kibana cannot run where threatline is built (DESIGN.md §5), so ``validate`` checks what would make
Kibana reject an object or show an empty panel: object types, ids, references that resolve, and
every field a query, column, sort or Lens column names mapped in our index templates with a type
that operation accepts. ``import`` runs the same checks before it sends anything.

Modules, one job each:
- ``errors``: ``KibanaError``, every problem as one line
- ``objects``: the NDJSON read and written back in canonical form, data view titles between prefixes
- ``templates``: the index templates (``config/es/*.json``) as mapped fields, and what a field can serve
- ``kql``: the ``field <op> value`` clauses of a KQL query
- ``checks``: ``validate``, the saved objects against each other and the templates
- ``client``: ``KibanaApi``, HTTP to one Kibana and space with the configured credentials and TLS
- ``transfer``: ``import_objects`` / ``export_objects`` over the saved-objects API
"""

from pipeline.kibana.checks import validate
from pipeline.kibana.errors import KibanaError
from pipeline.kibana.kql import KqlTerm, kql_terms
from pipeline.kibana.objects import DEFAULT_PREFIX, TYPES, dump_ndjson, load_objects, parse_ndjson, with_prefix
from pipeline.kibana.templates import DEFAULT_TEMPLATE_DIR, load_templates, mapped_fields, template_dir
from pipeline.kibana.transfer import EXPORT_PATH, IMPORT_PATH, ExportResult, ImportResult, export_objects, import_objects

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_TEMPLATE_DIR",
    "EXPORT_PATH",
    "IMPORT_PATH",
    "TYPES",
    "ExportResult",
    "ImportResult",
    "KibanaError",
    "KqlTerm",
    "dump_ndjson",
    "export_objects",
    "import_objects",
    "kql_terms",
    "load_objects",
    "load_templates",
    "mapped_fields",
    "parse_ndjson",
    "template_dir",
    "validate",
    "with_prefix",
]
