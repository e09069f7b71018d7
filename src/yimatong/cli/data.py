"""`ymt import KIND FILE` and `ymt export KIND FILE`."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Any

import typer

from yimatong.cli.common import fail, input_file, output_file, service
from yimatong.core.context import Actor, App, now
from yimatong.core.visibility import View
from yimatong.domain import localtime
from yimatong.intake.columns import KIND_LABELS, KINDS

IMPORT_KINDS = (*KINDS, "parcels", "control_layer")
SHOWN = 50  # rows of each kind printed; the whole report goes to --report FILE
REPORT_LABELS = {"taken": "新登记", "merged": "合并", "review": "待复核", "refused": "被拒", "warnings": "提示"}


def cli_actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", "admin")


def _audit(ymt: App, action: str, file: Path) -> None:
    """Read audit (15.4): a command-line export is recorded like one from the API or the web pages."""
    from yimatong.ledger import audit

    audit.record(ymt, cli_actor(), action, str(file.resolve())[-300:], "cli", socket.gethostname())


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    export_app = typer.Typer(help="导出：projects（xlsx）、parcels（GeoJSON/GeoPackage/Shapefile/TXT）、warnings（xlsx）、template",
                             no_args_is_help=True)
    export_app.command("projects")(export_projects)
    export_app.command("parcels")(export_parcels)
    export_app.command("warnings")(export_warnings)
    export_app.command("template")(export_template)
    app.add_typer(export_app, name="export")


def import_command(
    kind: str = typer.Argument(None, help="supply_plan、reserve_plan、key_projects、investment_platform、parcels、control_layer"),
    file: Path = typer.Argument(None, help="xlsx、xls、csv；地块：GeoJSON、zip 打包的 Shapefile、GeoPackage、坐标 TXT"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只校验，不写入"),
    partial: bool = typer.Option(False, "--partial", help="只导入合格的行（默认整文件要么全部导入要么不导入）"),
    crs: int = typer.Option(None, "--crs", help="地块文件坐标系 EPSG"),
    code: str = typer.Option(None, "--code", help="地块全部挂接到此项目码"),
    layer: str = typer.Option(None, "--kind", help="管控图层：basic_farmland、eco_redline、dev_boundary"),
    strict: bool = typer.Option(False, "--strict", help="地块：坐标 TXT 中面积或点数与坐标不符（超过 0.1%）的地块拒收"),
    report_file: Path = typer.Option(None, "--report", help="把完整报告写入文件（.xlsx 或 .json）"),
    land_use_edition: str = typer.Option(None, "--land-use-edition",
                                         help="用途列的分类版本：2023（默认）或 gbt21010（GB/T 21010-2017/三调）；不给时按表头"),
    resume: int = typer.Option(None, "--resume", help="继续运行中断的导入任务（任务号见导入时的提示）"),
) -> None:
    """导入来源清单、地块文件或管控图层；有被拒的行时退出码为 1。清单导入作为任务运行：中断后再次运行同一命令
    （或 --resume 任务号）从中断处继续。"""
    if resume is not None:
        _resume(resume, report_file)
        return
    if kind is None or file is None:
        raise fail("请给出导入类型与文件（ymt import KIND FILE），或用 --resume 任务号 继续中断的导入任务")
    if kind not in IMPORT_KINDS:
        raise fail(f"未知导入类型 {kind}，可选：{', '.join(IMPORT_KINDS)}")
    if report_file is not None:
        output_file(report_file, (".xlsx", ".json"))
    data = input_file(file)
    with service() as ymt:
        report = _run_import(ymt, kind, file, data, dry_run, partial, crs, code, layer, strict, land_use_edition)
        at = localtime.format_local(now(), ymt.profile.tz)  # the time people read: local
    _print_report(kind, report, at)
    if report_file is not None and kind != "control_layer":
        from yimatong.intake import report_files

        report_files.write_report(report, report_file)
        typer.echo(f"完整报告已写入 {report_file}")
    if report.get("refused"):
        raise typer.Exit(1)


def _resume(job_id: int, report_file: Path | None) -> None:
    from yimatong.errors import AppError
    from yimatong.intake import jobs as import_jobs

    if report_file is not None:
        output_file(report_file, (".xlsx", ".json"))
    with service() as ymt:
        try:
            report = import_jobs.resume(ymt, cli_actor(), job_id, _job_progress).as_dict()
        except AppError as exc:
            raise fail(exc.detail) from None
        at = localtime.format_local(now(), ymt.profile.tz)
    _print_report(report["kind"], report, at)
    if report_file is not None:
        from yimatong.intake import report_files

        report_files.write_report(report, report_file)
        typer.echo(f"完整报告已写入 {report_file}")
    if report.get("refused"):
        raise typer.Exit(1)


def _job_progress(job: dict[str, Any]) -> None:
    """One line on stderr per batch: the job number (to resume it), the phase, rows done of the total."""
    if job["phase"] == "publishing":
        done, total = job["rows_published"], job["rows_to_publish"]
    else:
        done, total = job["rows_read"], job["rows_total"] or 0
    left = f"，约剩 {job['eta_seconds']:.0f} 秒" if job.get("eta_seconds") else ""
    typer.echo(f"导入任务 {job['id']}　{job['phase_label']}　{done}/{total} 行{left}", err=True)


def _run_import(ymt: Any, kind: str, file: Path, data: bytes, dry_run: bool, partial: bool, crs: int | None,
                code: str | None, layer: str | None, strict: bool = False, land_use_edition: str | None = None
                ) -> dict[str, Any]:
    from yimatong.intake import jobs as import_jobs
    from yimatong.parcels import files as parcel_import

    if kind == "parcels":
        return parcel_import.import_parcels(ymt, cli_actor(), data, file.name, crs=crs, code=code, dry_run=dry_run,
                                            partial=partial, strict=strict)
    if kind == "control_layer":
        if not layer:
            raise fail("导入管控图层须用 --kind 指明 basic_farmland、eco_redline 或 dev_boundary")
        return parcel_import.import_control_layer(ymt, cli_actor(), data, file.name, layer, crs=crs)
    # on stderr: stdout carries the report
    return import_jobs.import_sheet(ymt, cli_actor(), kind, data, file.name, dry_run=dry_run, partial=partial,
                                    land_use_edition=land_use_edition, on_job=_job_progress).as_dict()


def _print_report(kind: str, r: dict[str, Any], at: str = "") -> None:
    if kind == "control_layer":
        typer.echo(f"已导入管控图层 {r['label']}：{r['features']} 个要素")
        return
    c = r["counts"]
    label = KIND_LABELS.get(kind, "地块")
    mode = "（试运行，未写入）" if r.get("dry_run") else ""
    if r.get("already_imported"):
        typer.echo(f"{label}：此文件已导入过，未做任何改动（{c['rows']} 行）")
        return
    typer.echo(f"{label} {r['filename']}{mode}　{at}")
    parts = [f"共 {c.get('rows', 0)} 行", f"新登记 {c.get('taken', 0)}", f"合并 {c.get('merged', 0)}",
             f"待复核 {c.get('review', 0)}", f"无变化 {c.get('unchanged', 0)}", f"被拒 {c.get('refused', 0)}",
             f"跳过 {c.get('skipped', 0)}"]
    typer.echo("，".join(parts))
    for t in r.get("taken", [])[:SHOWN]:
        typer.echo(f"  新登记 第{t['row']}行 {t.get('code') or '（未赋码）'} {t.get('name', '')}")
    for m in r.get("merged", [])[:SHOWN]:
        target = m.get('code') or f"第{m.get('target_row')}行的新项目"
        typer.echo(f"  合并   第{m['row']}行 → {target} {m.get('name', '')}")
    for v in r.get("review", [])[:SHOWN]:
        typer.echo(f"  待复核 第{v['row']}行 与 {v['candidate_code']} 相似度 {v['score']}（复核号 {v['review_id']}）")
    for x in r.get("refused", [])[:SHOWN]:
        typer.echo(f"  被拒   第{x['row']}行 [{x['column']}] {x['reason']}", err=True)
    for w in r.get("warnings", [])[:SHOWN]:
        typer.echo(f"  提示   第{w.get('row', '')}行 {w.get('detail', '')}", err=True)
    hidden = {k: len(r.get(k) or []) - SHOWN for k in ("taken", "merged", "review", "refused", "warnings")
              if len(r.get(k) or []) > SHOWN}
    if hidden:
        more = "、".join(f"{REPORT_LABELS[k]} {n} 条" for k, n in hidden.items())
        typer.echo(f"每类只显示前 {SHOWN} 条（另有 {more}）；用 --report 文件.xlsx 可导出完整报告", err=True)
    if r.get("refused") and not r.get("partial"):
        typer.echo("有被拒的行：整个文件未导入（可修正后重试，或用 --partial 只导入合格的行）", err=True)


def export_projects(file: Path = typer.Argument(..., help="输出 xlsx"),
                    division: str = typer.Option(None, "--division"), year: int = typer.Option(None, "--year"),
                    stage: str = typer.Option(None, "--stage"), status: str = typer.Option(None, "--status")) -> None:
    """导出项目库（xlsx，逐批流式写出）。"""
    from yimatong.projects import export as exports
    from yimatong.projects import listing as project_list

    output_file(file, (".xlsx",))
    with service() as ymt:
        n = exports.export_projects(ymt, View.of(ymt, cli_actor()), file, project_list.ProjectFilter(
            division=division, year=year, stage=stage, status=status))
        _audit(ymt, "export.projects", file)
    typer.echo(f"已导出 {n} 个项目到 {file}")


def export_parcels(file: Path = typer.Argument(..., help="输出 .geojson、.gpkg、.zip（Shapefile）或 .txt"),
                   code: str = typer.Option(None, "--code", help="只导出此项目的地块"),
                   encoding: str = typer.Option("utf-8", "--encoding",
                                                help="Shapefile 属性的编码：utf-8 或 gbk（写入 .cpg）")) -> None:
    """导出地块（GeoJSON、GeoPackage、zip 打包的 Shapefile 或标准坐标 TXT）。"""
    from yimatong.parcels import files as parcel_import

    output_file(file, (".geojson", ".json", ".gpkg", ".zip", ".txt"))
    if encoding.lower() not in ("utf-8", "utf8", "gbk"):
        raise fail(f"--encoding 应为 utf-8 或 gbk，收到 {encoding}")
    with service() as ymt:
        n = parcel_import.export_parcels(ymt, cli_actor(), file, code=code,
                                         encoding="GBK" if encoding.lower() == "gbk" else "UTF-8")
        _audit(ymt, "export.parcels", file)
    typer.echo(f"已导出 {n} 个地块到 {file}")


def export_warnings(file: Path = typer.Argument(..., help="输出 xlsx")) -> None:
    """导出预警清单（xlsx）。"""
    from yimatong.supervision import service as supervision

    output_file(file, (".xlsx",))
    with service() as ymt:
        n = supervision.export_warnings(ymt, View.of(ymt, cli_actor()), file)
        _audit(ymt, "export.warnings", file)
    typer.echo(f"已导出 {n} 条预警到 {file}")


def export_template(kind: str = typer.Argument(..., help=", ".join(KINDS)),
                    file: Path = typer.Argument(..., help="输出 xlsx")) -> None:
    """导出中文导入模板（含填写说明与代码表下拉）。"""
    from yimatong.intake import templates

    output_file(file, (".xlsx",))
    with service() as ymt:
        templates.write_template(ymt, kind, file)
    typer.echo(f"已写出模板 {file}")
