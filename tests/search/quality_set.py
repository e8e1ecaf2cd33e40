"""A labelled set of Chinese and English searches over a small company's chat, for measuring
search quality (tests/search/test_quality.py): precision@10 and recall.

The messages read like a workplace's: deployments, meetings, budgets, invoices, the VPN,
holidays, in five channels, from five people, in both languages, some with files. Each query
lists the messages a person typing it is looking for, judged by reading them, not by running a
search: an English word finds its other forms ("deploy" wants "deployed" and "deployment"),
never a translation or a synonym; a Chinese word wants the messages that use that word, not
ones where its characters merely meet across two words (全部署名 holds 部署, 社会议题 holds
会议: a bigram index finds them, and the set counts that against it). Filters (`from:`, `in:`,
`has:`, `mentions:me`, `before:`, `after:`) are searched as `alice`, who is in every channel.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple


class Said(NamedTuple):
    key: str
    channel: str
    sender: str
    body: str
    file_name: str | None = None
    # When it was sent (UTC); None: when the set is loaded.
    at: dt.datetime | None = None


class Query(NamedTuple):
    text: str
    relevant: frozenset[str]


def _q(text: str, *keys: str) -> Query:
    return Query(text, frozenset(keys))


CHANNELS = ("general", "ops", "product", "finance", "hr")
PEOPLE = ("alice", "bob", "carol", "zhangwei", "lina")
SEARCHER = "alice"

MESSAGES = [
    # Deployments / 部署
    Said("d1", "ops", "zhangwei", "今晚十点部署新版本到生产环境，请大家提前保存工作。"),
    Said("d2", "ops", "bob", "The deployment to production finished at 22:40, no errors."),
    Said("d3", "ops", "alice", "Who is deploying the hotfix tomorrow morning?"),
    Said("d4", "ops", "lina", "部署脚本已经更新，回滚步骤也写进文档了。"),
    Said("d5", "ops", "bob", "I deployed the staging build; please test the login page."),
    Said("d6", "general", "zhangwei", "测试环境的部署失败了，日志里有数据库连接超时。"),
    Said("x1", "general", "lina", "报销单需要全部署名后再交给财务。"),
    Said("x2", "hr", "carol", "Please sign all the forms before Friday."),
    # Meetings / 会议
    Said("m1", "general", "alice", "Weekly meeting moved to Thursday 3pm in room 4B."),
    Said("m2", "general", "zhangwei", "明天上午九点开会议，讨论第三季度的预算。"),
    Said("m3", "product", "lina", "会议纪要已经发到群里了，请查收。"),
    Said("m4", "product", "bob", "Meeting notes: we agreed to ship search filters next sprint."),
    Said("m5", "general", "carol", "Can we skip today's meetings? Half the team is out."),
    Said("m6", "hr", "lina", "下周一的全员会议改到线上进行。"),
    Said("x3", "general", "bob", "Great to finally meet everyone at the offsite!"),
    Said("x4", "general", "zhangwei", "会计说发票已经寄出了。"),
    Said("x5", "general", "lina", "这次培训讨论了很多社会议题。"),
    # Budgets / 预算
    Said("b1", "finance", "alice", "Q3 budget draft is ready for review."),
    Said("b2", "finance", "zhangwei", "第三季度预算比去年增加了百分之十。"),
    Said("b3", "finance", "bob", "Marketing overspent its budget by 12% last month."),
    Said("b4", "finance", "lina", "附件是预算表，请在周五前确认。", "q3-budget.csv"),
    Said("b5", "general", "carol", "Budgets for team events are frozen until January."),
    # Invoices and expenses / 发票, 报销
    Said("i1", "finance", "carol", "Please send me the invoice for the new laptops."),
    Said("i2", "finance", "lina", "发票抬头写公司全称，税号在附件里。"),
    Said("i3", "finance", "zhangwei", "报销流程改了，发票要先拍照上传系统。"),
    Said("i4", "finance", "bob", "Invoices older than 90 days cannot be reimbursed."),
    # The VPN
    Said("v1", "ops", "bob", "VPN is down for maintenance from 1am to 3am."),
    Said("v2", "ops", "zhangwei", "连不上VPN的同事请先重启客户端。"),
    Said("v3", "general", "lina", "在家办公需要先连接 VPN。"),
    Said("v4", "ops", "alice", "New VPN certificates will be pushed on Monday."),
    # Passwords / 密码
    Said("p1", "ops", "alice", "Reminder: passwords expire every 90 days."),
    Said("p2", "ops", "zhangwei", "密码重置链接十分钟内有效。"),
    Said("p3", "general", "bob", "I forgot my password again, who can reset it?"),
    Said("p4", "hr", "lina", "请不要把密码写在便签上。"),
    # Laptops / 电脑
    Said("l1", "general", "carol", "New laptops arrive next week; pick yours up at IT."),
    Said("l2", "general", "zhangwei", "我的笔记本电脑屏幕坏了，可以申请换一台吗？"),
    Said("l3", "ops", "lina", "电脑统一升级到 Windows 11，请备份数据。"),
    # Holidays / 放假, 假期
    Said("h1", "hr", "carol", "Office closed for the holidays from Dec 24 to Jan 2."),
    Said("h2", "hr", "lina", "春节放假安排：2月9日至2月17日。"),
    Said("h3", "hr", "zhangwei", "请假需要提前三天在系统里提交。"),
    Said("h4", "general", "bob", "Anyone taking holiday in August? Let's plan coverage."),
    Said("h5", "hr", "lina", "年假余额可以在个人中心查看，假期不清零。"),
    # Outages / 故障
    Said("s1", "ops", "bob", "Database server outage at 14:05, we are on it."),
    Said("s2", "ops", "zhangwei", "服务器故障已经修复，原因是磁盘满了。"),
    Said("s3", "ops", "alice", "Postmortem for yesterday's outage is in the wiki."),
    Said("s4", "ops", "lina", "网络故障导致邮件延迟，现在已恢复。"),
    # Customers / 客户
    Said("c1", "product", "alice", "The customer asked for single sign-on with their AD."),
    Said("c2", "product", "zhangwei", "客户反馈搜索中文很慢，需要优化。"),
    Said("c3", "product", "bob", "Two customers reported the export button missing."),
    Said("c4", "product", "lina", "下周去上海拜访客户，演示新版本。"),
    # Contracts / 合同
    Said("k1", "finance", "carol", "The contract renewal is due on March 1."),
    Said("k2", "finance", "lina", "合同已经盖章，原件寄回公司。"),
    Said("k3", "finance", "zhangwei", "新的合同模板见附件。", "合同-2027.pdf"),
    Said("k4", "finance", "bob", "Legal reviewed the contracts; two clauses need changes."),
    Said("k5", "finance", "bob", "@alice can you review the contract draft?"),
    # Training / 培训
    Said("t1", "hr", "carol", "Security training is mandatory for all staff."),
    Said("t2", "hr", "lina", "新员工培训安排在周三下午。"),
    Said("t3", "hr", "bob", "Training videos are on the intranet."),
    # Releases / 发布
    Said("r1", "product", "alice", "Release 2.4 is scheduled for Friday."),
    Said("r2", "product", "zhangwei", "新版本发布后请关注错误日志。"),
    Said("r3", "product", "bob", "Release notes draft: dark mode, inbox, reminders."),
    Said("r4", "product", "lina", "发布会定在下个月，市场部负责场地。"),
    Said("r5", "product", "alice", "Release checklist: https://wiki.example.internal/release"),
    # Lunch / 午餐
    Said("n1", "general", "bob", "Lunch at the noodle place? 12:15 downstairs."),
    Said("n2", "general", "lina", "今天午餐公司请客，大家到三楼。"),
    Said("n3", "general", "carol", "Team lunch on Friday to celebrate the launch."),
    # Printers / 打印机
    Said("q1", "ops", "carol", "The printer on floor 3 is jammed again."),
    Said("q2", "ops", "zhangwei", "打印机没有墨了，谁去领一下？"),
    Said("q3", "general", "lina", "打印合同前请确认页码。"),
    # Interviews / 面试
    Said("f1", "hr", "carol", "Interview with the backend candidate at 10am."),
    Said("f2", "hr", "lina", "面试官请提前看简历。"),
    Said("f3", "hr", "bob", "We interviewed three candidates this week."),
    # Reports / 报告
    Said("g1", "finance", "alice", "Monthly numbers attached.", "monthly-report.pdf"),
    Said("g2", "finance", "zhangwei", "年度报告需要在周五前提交。"),
    Said("g3", "ops", "bob", "Bug reports go to the tracker, not chat."),
    Said("g4", "product", "lina", "报告里的数据来自客户调研。"),
    # Backups / 备份
    Said(
        "y1",
        "ops",
        "alice",
        "Nightly backups completed; restore drill passed.",
        at=dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC),
    ),
    Said("y2", "ops", "zhangwei", "数据库备份保留三十天。"),
    Said(
        "y3",
        "ops",
        "bob",
        "Backup of the file server failed at 2am.",
        at=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),
    ),
    # Onboarding / 入职
    Said("o1", "hr", "lina", "新同事下周一入职，请准备电脑和账号。"),
    Said("o2", "hr", "carol", "Onboarding checklist updated for new hires."),
    Said("o3", "hr", "zhangwei", "入职手续在人事部办理。"),
    # Parking / 停车
    Said("z1", "general", "bob", "Parking lot B is closed tomorrow."),
    Said("z2", "general", "lina", "停车位需要提前在系统预约。"),
]

QUERIES = [
    # English words, their other forms found too
    _q("deploy", "d2", "d3", "d5"),
    _q("deployment", "d2", "d3", "d5"),
    _q("meeting", "m1", "m4", "m5"),
    _q("meetings", "m1", "m4", "m5"),
    _q("budget", "b1", "b3", "b4", "b5"),
    _q("invoice", "i1", "i4"),
    _q("VPN", "v1", "v2", "v3", "v4"),
    _q("password", "p1", "p3"),
    _q("laptop", "l1", "i1"),
    _q("holiday", "h1", "h4"),
    _q("outage", "s1", "s3"),
    _q("customer", "c1", "c3"),
    _q("contract", "k1", "k4", "k5"),
    _q("training", "t1", "t3"),
    _q("release", "r1", "r3", "r5"),
    _q("lunch", "n1", "n3"),
    _q("printer", "q1"),
    _q("interview", "f1", "f3"),
    _q("report", "g1", "g3", "c3"),
    _q("backup", "y1", "y3"),
    _q("onboarding", "o2"),
    _q("parking", "z1"),
    _q("candidates", "f1", "f3"),
    _q("reimbursed", "i4"),
    _q("certificates", "v4"),
    _q("maintenance", "v1"),
    _q("jammed", "q1"),
    _q("renewal", "k1"),
    _q("postmortem", "s3"),
    _q("overspent", "b3"),
    _q("noodle", "n1"),
    # English phrases: every word
    _q("production deployment", "d2"),
    _q("login page", "d5"),
    _q("restore drill", "y1"),
    _q("security training", "t1"),
    _q("release notes", "r3"),
    _q("Q3 budget", "b1", "b4"),
    _q("single sign-on", "c1"),
    _q("export button", "c3"),
    _q("dark mode", "r3"),
    _q("database server", "s1"),
    _q("new hires", "o2"),
    # Chinese words (two characters and more) inside sentences
    _q("部署", "d1", "d4", "d6"),
    _q("会议", "m2", "m3", "m6"),
    _q("预算", "b2", "b4", "m2"),
    _q("发票", "i2", "i3", "x4"),
    _q("报销", "i3", "x1"),
    _q("密码", "p2", "p4"),
    _q("电脑", "l2", "l3", "o1"),
    _q("笔记本", "l2"),
    _q("放假", "h2"),
    _q("假期", "h5"),
    _q("故障", "s2", "s4"),
    _q("客户", "c2", "c4", "g4"),
    _q("合同", "k2", "k3", "q3"),
    _q("培训", "t2", "x5"),
    _q("发布", "r2", "r4"),
    _q("午餐", "n2"),
    _q("打印机", "q2"),
    _q("面试", "f2"),
    _q("报告", "g2", "g4"),
    _q("备份", "l3", "y2"),
    _q("入职", "o1", "o3"),
    _q("停车", "z2"),
    _q("生产环境", "d1"),
    _q("回滚", "d4"),
    _q("数据库", "d6", "y2"),
    _q("日志", "d6", "r2"),
    _q("会议纪要", "m3"),
    _q("新版本", "d1", "r2", "c4"),
    _q("第三季度", "m2", "b2"),
    _q("简历", "f2"),
    _q("磁盘", "s2"),
    _q("邮件", "s4"),
    _q("上海", "c4"),
    _q("春节", "h2"),
    _q("年假", "h5"),
    _q("税号", "i2"),
    _q("盖章", "k2"),
    _q("新员工", "t2"),
    _q("重启", "v2"),
    _q("屏幕", "l2"),
    _q("搜索", "c2"),
    _q("市场部", "r4"),
    _q("人事部", "o3"),
    _q("账号", "o1"),
    _q("合同模板", "k3"),
    _q("发票抬头", "i2"),
    # Chinese and English together
    _q("VPN 客户端", "v2"),
    _q("Windows 11", "l3"),
    _q("升级 Windows", "l3"),
    # Filters
    _q("from:zhangwei 部署", "d1", "d6"),
    _q("from:bob deploy", "d2", "d5"),
    _q("in:ops 故障", "s2", "s4"),
    _q("in:finance budget", "b1", "b3", "b4"),
    _q("has:file 预算", "b4"),
    _q("has:file 合同", "k3"),
    _q("has:file report", "g1"),
    _q("has:link release", "r5"),
    _q("from:carol holiday", "h1"),
    _q("in:general 午餐", "n2"),
    _q("from:alice in:ops", "d3", "v4", "p1", "s3", "y1"),
    _q("mentions:me contract", "k5"),
    _q("backup after:2026-12-01", "y1"),
    _q("backup before:2026-12-01", "y3"),
    _q("from:lina in:hr", "m6", "p4", "h2", "h5", "t2", "f2", "o1"),
]
