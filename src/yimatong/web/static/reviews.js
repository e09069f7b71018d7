// The review queue: 全选本页 ticks every row's box (the boxes belong to the bulk form by their form attribute).
(function () {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    document.querySelectorAll("input[name=id][form=bulk-form]").forEach(b => { b.checked = all.checked; });
  });
})();
