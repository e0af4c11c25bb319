"use strict";
/* Chinese names for what gridbot understood and decided, shared by the console and the simulator. */
const INTENTS = { complaint: "投诉", repair_request: "报修", micro_wish: "微心愿", dispute: "矛盾纠纷", none: "无/闲聊" };
const URGENCY = { emergency: "紧急", normal: "一般" };
const TIERS = { micro: "楼内微纠纷", small: "邻里小纠纷", medium: "中等纠纷", big: "重大纠纷" };
const OUTCOMES = {
  ticket_created: "已建工单", followed: "关注已有工单", already_reported: "已告知其工单进度", ignored: "忽略（闲聊）", refused: "已拒绝", answered: "已答复",
  help: "帮助", notice: "楼组通知", asked_building: "追问楼号", failed: "处理失败", error: "出错",
  escalated: "超时升级", nobody_above: "无上级可升级", unchanged: "未改动",
  respond_overdue: "部门超时未报到",
  rate_reminded: "提醒评价", auto_closed: "未评价自动关闭",
  notice_scheduled: "定时通知", notice_sent: "定时通知已发出", acknowledged: "居民已收到通知",
  wish_reannounced: "心愿再次通知志愿者", wish_handed_over: "心愿交网格员跟进", redeemed: "积分兑换",
  notice_answered: "据通知答复", asked_facility: "追问什么坏了", supplemented: "居民补充到工单",
  photo_attached: "照片附到工单", photo_waiting: "照片待配报告", photo_failed: "照片未能保存",
  home_set: "登记住址", home_unknown: "住址楼号不存在",
  digest_sent: "每日工作提醒已发送",
};
/* The command a message carried out: outcome "command:<kind>", kind as in the ticket's events. */
const COMMANDS = {
  accepted: "接单", progress: "进展", resolved: "办结", transferred: "转派", escalated: "升级", claimed: "认领",
  rated: "评价", reopened: "重开", cancelled: "撤销", recategorized: "改类", closed: "关闭", whistled: "吹哨",
  reported: "报到", visited: "走访", respond_overdue: "报到超时",
  reannounced: "再次通知志愿者", handed_over: "交网格员跟进",
  retiered: "改调解层级", supplemented: "居民补充",
};
function outcomeLabel(outcome) {
  const o = String(outcome || "");
  if (OUTCOMES[o]) return OUTCOMES[o];
  if (o.startsWith("command:")) return "命令：" + (COMMANDS[o.slice(8)] || "其他");
  if (o.startsWith("action:")) return "后台：" + (COMMANDS[o.slice(7)] || "其他");
  return "其他结果";
}
