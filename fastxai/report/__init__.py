"""fastxai.report: a bench run as one self-contained HTML page, findings first; the dataset audit.

``build_report(run_dir)`` (CLI ``fastxai report RUN_DIR``) reads the run only through
``fastxai.bench.open_run`` (docs/RUN_FOLDER.md); ``audit_dataset`` (CLI ``fastxai audit CONFIG``)
needs no model. Heavy dependencies (pandas, matplotlib, Jinja2) are imported inside.
See docs/report.md.
"""
from fastxai.report.audit import Audit, AuditFlag, audit_dataset, image_stats
from fastxai.report.builder import build_report, report_context
from fastxai.report.findings import Finding, FindingSettings, compute_findings
from fastxai.report.stats import ClusterBootstrap, Comparison, benjamini_hochberg

__all__ = ["build_report", "report_context", "compute_findings", "Finding", "FindingSettings", "audit_dataset",
           "image_stats", "Audit", "AuditFlag", "ClusterBootstrap", "Comparison", "benjamini_hochberg"]
